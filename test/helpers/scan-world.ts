/** A pipeline with one pgmap, a ScanService over page images a test sets, metrics and the server. */
import { DaxmonMetrics } from '../../src/metrics/registry.js';
import { buildPipeline } from '../../src/pipeline.js';
import { FrameReader, encodePageBatch, type PageBatch } from '../../src/scan/frames.js';
import { Scanner, type RangeScan } from '../../src/scan/scanner.js';
import { ScanService } from '../../src/scan/service.js';
import { buildServer } from '../../src/server/app.js';
import { ViolationStore } from '../../src/violations/store.js';
import { PMEM_PFN, Stream } from './events.js';

/**
 * Stands in for the daxmon-scan process: serves the page images a test sets, in the batches the
 * binary would send (its own protocol is covered by frames.test.ts and the VM test).
 */
/** A struct page as an image holds it (encodePageBatch's fields: order, status for compound folios). */
export type PageImage = Parameters<typeof encodePageBatch>[1][number];

export class ImageScanner extends Scanner {
  constructor(readonly image: Map<number, PageImage>) {
    super('/nonexistent');
  }
  override async scan(
    start: number,
    nr: number,
    _pps: number,
    onBatch: (b: PageBatch) => void,
  ): Promise<RangeScan> {
    for (let s = start; s < start + nr; s += 4096) {
      const n = Math.min(4096, start + nr - s);
      const pages = Array.from(
        { length: n },
        (_, i) => this.image.get(s + i) ?? { refcount: 0, mapcount: 0 },
      );
      const f = new FrameReader().push(encodePageBatch(s, pages))[0]!;
      if (f.kind === 'pages') onBatch(f.batch);
    }
    return { pages: nr, faults: 0, ns: 1 };
  }
  override stop(): void {}
}

export function scanWorld(nrPages: number) {
  const pipeline = buildPipeline({ model: 'new', kernelRelease: '7.3.4', sink: { violation() {} } });
  for (const e of new Stream('new').pgmap('fs_dax', PMEM_PFN, nrPages).insert(PMEM_PFN).map(PMEM_PFN, 1, 1)
    .events)
    pipeline.ingest(e);
  const image = new Map<number, PageImage>();
  let metrics: DaxmonMetrics | null = null;
  const scan = new ScanService({
    state: pipeline.state,
    model: 'new',
    scanner: new ImageScanner(image),
    config: { intervalSeconds: 0, pagesPerSecond: 1e6 },
    ingest: (e) => pipeline.ingest(e),
    nowNs: () => pipeline.state.lastT + 1,
    onScanDone: (s) => metrics?.scanDone(s),
  });
  metrics = new DaxmonMetrics(
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
  const app = buildServer({
    state: pipeline.state,
    engine: pipeline.engine,
    metrics,
    violations: new ViolationStore(),
    kernel: { release: '7.3.4', model: 'new', evidence: [] },
    readiness: () => ({ ready: true, reason: '' }),
    backends: () => [],
    now: () => pipeline.state.lastT,
    scan,
  });
  return { pipeline, image, scan, metrics, app };
}
