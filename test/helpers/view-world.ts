/**
 * A daxmon for the live view's tests and screenshots: a recorded stream replayed through the real
 * pipeline (src/replay.ts), one scan of page images that agree with it, and the daemon's HTTP app
 * listening on 127.0.0.1. The pages of pm0 (4,096 of them from PMEM_PFN) are in known states:
 * what the browser test reads back from the canvas. The violations start with one full of kernel
 * addresses (http-world.ts addressRecord). `feed` ingests more events live.
 */
import pino from 'pino';
import { httpApp } from '../../src/daemon/http.js';
import type { DaxEvent } from '../../src/events/types.js';
import { DaxmonMetrics } from '../../src/metrics/registry.js';
import { replay } from '../../src/replay.js';
import { SCAN_HEAD, SCAN_TAIL } from '../../src/scan/frames.js';
import { ScanService } from '../../src/scan/service.js';
import { ViolationStore } from '../../src/violations/store.js';
import { ALL_PROBES, PGMAP, PMEM_PFN, Stream } from './events.js';
import { addressRecord } from './http-world.js';
import { ImageScanner, type PageImage } from './scan-world.js';
import type { Violation } from '../../src/violations/violation.js';

export const VIEW_PAGES = 4096;
/** Page (offset from PMEM_PFN) → the state the map must show. */
export const KNOWN_PAGES = {
  0: 'idle',
  1: 'mapped',
  2: 'pinned',
  3: 'referenced',
  4: 'free',
  512: 'mapped', // head of an order-9 folio mapped by a PMD
  1023: 'mapped', // its last tail
  2000: 'idle',
} as const;

/** The recording: probes (one not attached), the pgmap, and the pages' histories. */
export function viewRecording(): string {
  const s = new Stream('new');
  s.probes(ALL_PROBES.filter((p) => p !== 'devmap_put'));
  s.probes(['devmap_put'], 'libbpf', false);
  s.push('backend_started', { backend: 'libbpf', version: 'test' });
  s.pgmap('fs_dax', PMEM_PFN, VIEW_PAGES, PGMAP);
  s.insert(PMEM_PFN + 1).map(PMEM_PFN + 1, 1, 1);
  s.insert(PMEM_PFN + 2)
    .map(PMEM_PFN + 2, 1, 1)
    .gup('get', PMEM_PFN + 2, 2);
  s.insert(PMEM_PFN + 4)
    .map(PMEM_PFN + 4, 1, 1)
    .unmap(PMEM_PFN + 4, 1, 1)
    .free(PMEM_PFN + 4);
  s.insert(PMEM_PFN + 512, 512, 9).map(PMEM_PFN + 512, 1, 1, 'vmf_insert_folio_pmd', 9);
  return s.ndjson();
}

/** What the scan reads: agrees with the recording, plus a referenced page only the scan sees. */
export function viewImage(): Map<number, PageImage> {
  const image = new Map<number, PageImage>([
    [PMEM_PFN + 1, { refcount: 1, mapcount: 1, mapping: true }],
    [PMEM_PFN + 2, { refcount: 2, mapcount: 1, mapping: true }],
    [PMEM_PFN + 3, { refcount: 1, mapcount: 0, mapping: true }],
    [PMEM_PFN + 512, { refcount: 1, mapcount: 1, order: 9, status: SCAN_HEAD, mapping: true }],
  ]);
  for (let i = 513; i < 1024; i++) image.set(PMEM_PFN + i, { refcount: 0, mapcount: 0, status: SCAN_TAIL });
  return image;
}

export interface ViewWorld {
  url: string;
  feed(events: DaxEvent[]): void;
  /** The stream clock's next instant (ns). */
  nextT(): number;
  close(): Promise<void>;
}

export async function viewWorld(o: { apiToken?: string; port?: number } = {}): Promise<ViewWorld> {
  const store = new ViolationStore();
  // A record another writer left (a journal from `replay --journal-dir`): kernel addresses in
  // every field, what the page must never show without the token.
  store.update(addressRecord('v0', '2026-11-25T00:00:00.000Z') as unknown as Violation, 'new');
  const r = await replay(Buffer.from(viewRecording()), {
    sink: { violation: (v, u) => store.update(v, u) },
  });
  if (r.fatal) throw new Error(`view recording: ${r.fatal}`);
  const pipeline = r.pipeline;
  const scan = new ScanService({
    state: pipeline.state,
    model: 'new',
    scanner: new ImageScanner(viewImage()),
    config: { intervalSeconds: 0, pagesPerSecond: 1e6 },
    ingest: (e) => pipeline.ingest(e),
    nowNs: () => pipeline.state.lastT + 1,
  });
  await scan.scanNow();
  const kernel = { release: '7.3.4+deb13-amd64', model: 'new' as const };
  const metrics = new DaxmonMetrics(
    {
      state: pipeline.state,
      engine: pipeline.engine,
      kernel,
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
      violations: store,
      kernel: { ...kernel, evidence: [] },
      readiness: () => ({ ready: true, reason: '' }),
      backends: () => [{ backend: 'libbpf', up: true, restarts: 1, lastExit: null }],
      now: () => pipeline.state.lastT,
      apiToken: o.apiToken,
      scan,
    },
    pino({ level: 'silent' }),
  );
  await app.listen({ host: '127.0.0.1', port: o.port ?? 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}/`,
    feed: (events) => {
      for (const e of events) pipeline.ingest(e);
    },
    nextT: () => pipeline.state.lastT + 1000,
    close: () => app.close(),
  };
}
