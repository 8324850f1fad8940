/**
 * The daemon's HTTP app built the way `daxmon run` builds it (src/daemon/http.ts httpApp: the
 * server's deps plus the daemon's pino log), over a pipeline with one scanned pgmap and a violation
 * journal restored as `daxmon run --journal-dir` restores it. A journal written by someone else
 * (`journalWith`) can carry kernel addresses in every field: what the redaction must hide.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { httpApp } from '../../src/daemon/http.js';
import { openViolationRecords } from '../../src/daemon/violations.js';
import { DaxmonMetrics } from '../../src/metrics/registry.js';
import { buildPipeline } from '../../src/pipeline.js';
import { ScanService } from '../../src/scan/service.js';
import { PGMAP, PMEM_PFN, Stream } from './events.js';
import { ImageScanner } from './scan-world.js';

export const TOKEN = 'daxmon-test-token-0123456789';

/** Addresses of every shape a record can hold, and the numbers they are as JSON numbers. */
export const ADDRESSES = {
  prefixed: '0xffffffff81234567',
  bare: 'ffffffffc0a1b2c3',
  upper: '0XFFFF888100A00000',
  la57: 'ff11000012345678',
  number: Number(BigInt('0xffffffff81234567')),
  /** 0xffff880000000000 in decimal, and 0xffffffffc0a1b2c3 (what `%lu` prints). */
  decimal: '18446612686384676864',
  decimalText: '18446744072645460675',
  /** 0xffff880000000000 read as a signed 64-bit number. */
  negative: -131941395333120,
  /** 0xfffffffffffffc00: as a double exactly 2^64. */
  top: Number(BigInt('0xfffffffffffffc00')),
} as const;

/** A record as another writer (an older daxmon, `replay --journal-dir`, a hand edit) left it. */
export function addressRecord(id: string, time: string): Record<string, unknown> {
  const a = ADDRESSES;
  return {
    id,
    kind: 'map_zero_ref',
    severity: 'error',
    invariant: 'V1',
    t: 1,
    time,
    message: `folio at ${a.prefixed} mapped with refcount 0 (page ${a.bare})`,
    pfn: a.number,
    pgmap: { id: 'pm0', type: 'fs_dax', device: a.upper },
    order: 0,
    observed: { refcount: 0, mapcount: 1 },
    expected: { refcount: '≥ 1' },
    pid: 42,
    comm: `kworker/${a.la57}`,
    stack: [
      `${a.bare} dax_insert_entry+0x12/0x40`,
      `vmf_insert_page_mkwrite+0x1a/0x80 [${a.bare}]`,
      `${a.prefixed}`,
      `xfs_dax_fault+0x33/0x90 [xfs] ${a.upper.toLowerCase()}`,
    ],
    kernel: { release: '7.3.4', model: 'new' },
    recentEvents: [{ type: 'folio_map', t: 1, pid: 42, comm: a.prefixed, refcount: a.number, mapcount: 1 }],
    count: 1,
    lastT: 1,
    clearedT: null,
    details: {
      [a.prefixed]: 'key',
      nested: { deeper: [a.bare, a.number, { x: `${a.upper}!` }] },
      address: a.number,
      decimal: `decimal ${a.decimal}`,
      comm: a.decimalText,
      negative: a.negative,
      negativeText: `signed ${a.negative}`,
      top: a.top,
      keys: { '0xffff888100000001': 1, '0xffff888100000002': 2 },
    },
  };
}

/** A journal directory holding `records`, one `new` line each (the journal's own line format). */
export function journalWith(records: (Record<string, unknown> | string)[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxmon-http-'));
  // A string is a record's JSON text already (one too deep for JSON.stringify).
  const lines = records.map((v) => `{"j":1,"op":"new","v":${typeof v === 'string' ? v : JSON.stringify(v)}}`);
  fs.writeFileSync(path.join(dir, 'violations-000001.ndjson'), lines.join('\n') + '\n');
  return dir;
}

export interface HttpWorld {
  app: ReturnType<typeof httpApp>;
  /** The daemon log's lines, parsed. */
  logLines: Record<string, unknown>[];
  scan: ScanService;
}

export interface HttpWorldOptions {
  journalDir?: string;
  apiToken?: string;
  /** Make /api/state's backends() throw: a bug inside a handler. */
  failingBackends?: boolean;
}

export async function httpWorld(o: HttpWorldOptions = {}): Promise<HttpWorld> {
  const logLines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) logLines.push(JSON.parse(l));
      cb();
    },
  });
  const log = pino({ level: 'info' }, sink);
  const records = openViolationRecords(o.journalDir ?? null, 'never', log);
  const pipeline = buildPipeline({
    model: 'new',
    kernelRelease: '7.3.4',
    firstViolationId: records.firstId,
    sink: { violation: (v, u) => records.store.update(v, u) },
  });
  const s = new Stream('new').pgmap('fs_dax', PMEM_PFN, 4096, PGMAP);
  s.insert(PMEM_PFN).map(PMEM_PFN, 1, 1);
  for (const e of s.events) pipeline.ingest(e);
  const scan = new ScanService({
    state: pipeline.state,
    model: 'new',
    scanner: new ImageScanner(new Map()),
    config: { intervalSeconds: 0, pagesPerSecond: 1e6 },
    ingest: (e) => pipeline.ingest(e),
    nowNs: () => pipeline.state.lastT + 1,
  });
  await scan.scanNow();
  const metrics = new DaxmonMetrics(
    {
      state: pipeline.state,
      engine: pipeline.engine,
      kernel: { release: '7.3.4', model: 'new' },
      backends: () => [],
      now: () => pipeline.state.lastT,
      scan,
    },
    { processMetrics: false },
  );
  const app = httpApp(
    {
      state: pipeline.state,
      engine: pipeline.engine,
      metrics,
      violations: records.store,
      kernel: { release: '7.3.4', model: 'new', evidence: [] },
      readiness: () => ({ ready: true, reason: '' }),
      backends: () => {
        if (o.failingBackends) throw new Error('backend table corrupt (test)');
        return [];
      },
      now: () => pipeline.state.lastT,
      apiToken: o.apiToken,
      scan,
    },
    log,
  );
  await app.ready();
  return { app, logLines, scan };
}
