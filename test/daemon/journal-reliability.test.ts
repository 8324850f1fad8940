/**
 * The daemon with a journal that misbehaves (issue 13, items 5, 8, 9) and a recording on a slow
 * disk (item 10), on the fixture kernel of test/daemon/run.test.ts with no backend.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { reportError } from '../../src/cli.js';
import { openViolationRecords, violationSink } from '../../src/daemon/violations.js';
import { startDaemon, type DaemonOptions, type RunningDaemon } from '../../src/daemon/daemon.js';
import { openRecording } from '../../src/daemon/recording.js';
import { createRecordingDecoder } from '../../src/events/recording.js';
import type { DaxEvent } from '../../src/events/types.js';
import type { KernelFacts } from '../../src/kernel/facts.js';
import { Journal, readJournal, type JournalFs } from '../../src/violations/journal.js';
import { violation } from '../violations/violation-fixture.js';
import { daemonFixtureFacts } from './fixtures/daemon-facts.js';

let facts: KernelFacts;
let dir: string;

beforeAll(async () => {
  facts = await daemonFixtureFacts();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxmon-daemon-journal-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

async function start(
  o: Partial<DaemonOptions>,
): Promise<{ daemon: RunningDaemon; url: string; log: LogLine[] }> {
  const log: LogLine[] = [];
  const daemon = await startDaemon({
    listen: { host: '127.0.0.1', port: 0 },
    backend: 'none',
    strict: false,
    journalDir: null,
    fsync: 'always',
    logLevel: 'info',
    checkConfig: {},
    facts,
    discover: false,
    scan: { intervalSeconds: 0, pagesPerSecond: 1 },
    logDestination: { write: (s: string) => void log.push(JSON.parse(s) as LogLine) },
    ...o,
  });
  return { daemon, url: `http://127.0.0.1:${daemon.port}`, log };
}

function journalWith(d: string, ids: number[]): void {
  const j = new Journal({ dir: d });
  j.open();
  for (const n of ids) j.write(violation(n), 'new');
  j.close();
}

const metric = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);

describe('item 5: start-up on a journal directory that cannot be used', () => {
  it('--journal-dir /proc/self is DAXMON_E_JOURNAL_DIR (exit 2, no stack), not an internal error (exit 70)', async () => {
    let err: unknown;
    await start({ journalDir: '/proc/self' }).then(
      (r) => r.daemon.stop('unexpected'),
      (e: unknown) => (err = e),
    );
    expect(err).toMatchObject({ code: 'DAXMON_E_JOURNAL_DIR' });
    let text = '';
    expect(reportError(err, (t) => (text += t))).toBe(2);
    expect(text).toMatch(
      /^daxmon: DAXMON_E_JOURNAL_DIR: .*\/proc\/self\/violations-000001\.ndjson: (ENOENT|EACCES)/,
    );
    expect(text).not.toContain('    at ');
  });
});

describe('item 8: a full disk', () => {
  it('starts on a full disk with a torn tail in the journal (no write at start-up) and serves what is journaled', async () => {
    const d = path.join(dir, 'full');
    journalWith(d, [1, 2]);
    const f = path.join(d, 'violations-000001.ndjson');
    fs.appendFileSync(f, '{"j":2,"s":3,"op":"new","v":{"id":"v3","ki');
    let full = true;
    const enospc = () =>
      Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    const diskFs: JournalFs = {
      ...fs,
      writeSync: ((fd: number, buf: Buffer, off?: number) => {
        if (full) throw enospc();
        return fs.writeSync(fd, buf, off);
      }) as typeof fs.writeSync,
    };
    const { daemon, url, log } = await start({ journalDir: d, journalFs: diskFs });
    try {
      const page = (await (await fetch(`${url}/api/violations`)).json()) as {
        items: { id: string }[];
        damagedRecords: number;
      };
      expect(page.items.map((v) => v.id)).toEqual(['v2', 'v1']);
      expect(log.find((l) => l.msg.startsWith('journal had damaged records'))).toMatchObject({
        tornTail: true,
      });
      expect(log.find((l) => l.msg === 'journal opened')).toMatchObject({ restored: 2 });
    } finally {
      await daemon.stop('test over');
    }
    full = false;
    expect(readJournal(d).violations.map((v) => v.id)).toEqual(['v1', 'v2']);
  });

  it('the sink on a full disk: the violation reaches the API, the failure is logged once and counted, and it is journaled when space returns', () => {
    const d = path.join(dir, 'full-sink');
    journalWith(d, [1]);
    let full = false;
    const diskFs: JournalFs = {
      ...fs,
      writeSync: ((fd: number, buf: Buffer, off?: number) => {
        if (full)
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        return fs.writeSync(fd, buf, off);
      }) as typeof fs.writeSync,
    };
    const lines: LogLine[] = [];
    const logger = pino(
      { level: 'info' },
      { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) },
    );
    const records = openViolationRecords(d, 'always', logger, { fs: diskFs });
    expect(records.firstId).toBe(2);
    const sink = violationSink(records, { violation: () => undefined }, logger);
    full = true;
    for (const n of [2, 3]) sink.violation(violation(n), 'new');
    expect(records.store.get('v3')).toBeDefined();
    expect(records.journal!.pending).toBe(2);
    expect(records.journal!.writeErrors).toBe(2);
    const failing = lines.filter((l) => l.msg.startsWith('violation journal cannot write'));
    expect(failing).toMatchObject([{ level: 50, errno: 'ENOSPC', dir: d, code: 'DAXMON_E_JOURNAL_WRITE' }]);
    full = false;
    records.journal!.flushRepeats(); // the daemon's 1 s tick
    expect(lines.at(-1)!.msg).toMatch(/^violation journal writing again/);
    expect(readJournal(d).violations.map((v) => v.id)).toEqual(['v1', 'v2', 'v3']);
    records.journal!.close();
  });
});

describe('item 9: retention is explicit, and the API says what is outside the window', () => {
  it('--retain-violations 3 on a journal of 8: the page says retained 3, olderOutsideWindow 5; an old id is a rotated-out 404', async () => {
    const d = path.join(dir, 'retain');
    journalWith(d, [1, 2, 3, 4, 5, 6, 7, 8]);
    const { daemon, url, log } = await start({ journalDir: d, retainViolations: 3 });
    try {
      const page = (await (await fetch(`${url}/api/violations`)).json()) as Record<string, unknown> & {
        items: { id: string }[];
      };
      expect(page.items.map((v) => v.id)).toEqual(['v8', 'v7', 'v6']);
      expect(page).toMatchObject({ retained: 3, olderOutsideWindow: 5, damagedRecords: 0, total: 3 });
      const old = await fetch(`${url}/api/violations/v2`);
      expect(old.status).toBe(404);
      const body = (await old.json()) as { code: string; message: string };
      expect(body.code).toBe('DAXMON_E_API_VIOLATION_ROTATED');
      expect(body.message).toContain('oldest kept: v6');
      const none = await fetch(`${url}/api/violations/v99`);
      expect(((await none.json()) as { code: string }).code).toBe('DAXMON_E_API_NOT_FOUND');
      expect(log.find((l) => l.msg === 'journal opened')).toMatchObject({
        retained: 3,
        olderOutsideWindow: 5,
      });
    } finally {
      await daemon.stop('test over');
    }
  });

  it('violations rotated out of the journal files are counted too (the files say how many went)', async () => {
    const d = path.join(dir, 'rotated');
    // 32 KiB over 8 files: 4 KiB files, the oldest deleted.
    const j = new Journal({ dir: d, maxFileBytes: 4096, maxFiles: 8 });
    j.open();
    for (let n = 1; n <= 60; n++) j.write(violation(n), 'new');
    j.close();
    const load = readJournal(d);
    expect(load.rotatedOut).toBeGreaterThan(0);
    const { daemon, url } = await start({ journalDir: d, journalMaxBytes: 32768, retainViolations: 10 });
    try {
      const page = (await (await fetch(`${url}/api/violations?limit=1`)).json()) as Record<string, unknown>;
      expect(page).toMatchObject({ retained: 10, olderOutsideWindow: 50 });
      const m = await (await fetch(`${url}/metrics`)).text();
      expect(metric(m, 'daxmon_journal_damaged_records_total')).toBe(0);
    } finally {
      await daemon.stop('test over');
    }
  });

  it('a damaged record is counted in /api/violations and in daxmon_journal_damaged_records_total', async () => {
    const d = path.join(dir, 'damaged');
    journalWith(d, [1, 2, 3]);
    const f = path.join(d, 'violations-000001.ndjson');
    const bytes = fs.readFileSync(f);
    const at = bytes.indexOf('"id":"v2"') + 7;
    bytes[at] = bytes[at]! ^ 0x04;
    fs.writeFileSync(f, bytes);
    const { daemon, url, log } = await start({ journalDir: d });
    try {
      const page = (await (await fetch(`${url}/api/violations`)).json()) as Record<string, unknown>;
      expect(page).toMatchObject({ damagedRecords: 1, retained: 2 });
      const m = await (await fetch(`${url}/metrics`)).text();
      expect(metric(m, 'daxmon_journal_damaged_records_total')).toBe(1);
      expect(log.find((l) => l.msg.startsWith('journal had damaged records'))).toMatchObject({
        level: 40,
        damagedRecords: 1,
      });
    } finally {
      await daemon.stop('test over');
    }
  });
});

/** A file that takes nothing until released: every write waits for `release()`. */
class SlowDisk extends Writable {
  readonly chunks: Buffer[] = [];
  private waiting: (() => void)[] = [];
  private open = false;
  constructor() {
    super({ highWaterMark: 1024 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.chunks.push(Buffer.from(chunk));
    if (this.open) cb();
    else this.waiting.push(() => cb());
  }
  release(): void {
    this.open = true;
    for (const w of this.waiting.splice(0)) w();
  }
}

function event(i: number): DaxEvent {
  return {
    type: 'folio_put',
    t: 1_000_000 + i,
    pid: 7,
    comm: 'writer',
    pfn: 0x140000 + (i % 64),
    order: 0,
    refs: 1,
    refcount: 1,
  };
}

describe('item 10: the recorder is bounded on a slow disk, and marks its gaps', () => {
  it('holds at most maxBufferedBytes, counts what it dropped, logs it, and writes an events_lost gap marker the replay reads', async () => {
    const disk = new SlowDisk();
    const logged: string[] = [];
    const log = { warn: (_o: unknown, msg: string) => void logged.push(msg) } as never;
    const limit = 16 << 10;
    const rec = openRecording({
      file: 'slow.ndjson',
      format: 'ndjson',
      kernel: { release: '7.3.4', model: 'new' },
      source: 'libbpf',
      maxBufferedBytes: limit,
      stream: disk,
      log,
    });
    let maxBuffered = 0;
    const total = 5000;
    for (let i = 0; i < total; i++) {
      rec.write(event(i));
      maxBuffered = Math.max(maxBuffered, disk.writableLength);
    }
    // Bounded: at most the limit and one event over it, though 5000 events came.
    expect(maxBuffered).toBeLessThan(limit + 512);
    expect(rec.droppedEvents).toBeGreaterThan(total / 2);
    expect(logged).toEqual([
      'recording cannot keep up with the events; dropping them until the file catches up',
    ]);
    const dropped = rec.droppedEvents;
    disk.release();
    for (let i = total; i < total + 10; i++) rec.write(event(i));
    await rec.close();
    expect(logged.at(-1)).toBe('recording caught up; the gap is marked in it (events_lost)');

    const seen: DaxEvent[] = [];
    const errors: string[] = [];
    const decoder = createRecordingDecoder({
      header: () => undefined,
      event: (e) => void seen.push(e),
      error: (message) => void errors.push(message),
    });
    decoder.push(Buffer.concat(disk.chunks));
    decoder.end();
    const gaps = seen.filter((e) => e.type === 'events_lost');
    expect(errors).toEqual([]);
    expect(gaps).toEqual([
      expect.objectContaining({ type: 'events_lost', backend: 'libbpf', count: dropped }),
    ]);
    expect(seen.length - gaps.length + dropped).toBe(total + 10);
  });
});
