/**
 * pgmap churn (issue 13 item 2): namespaces created and destroyed in turn, as ndctl's tests do,
 * through the whole pipeline (register, memunmap_pages, ref released, done), and live pgmaps
 * registered side by side. Reported as seconds for 2,000 and for 8,000, and their ratio measured
 * in the same run: 4 is linear (each registration costs the same), 16 quadratic. The unit test
 * (test/state/pgmaps.test.ts) asserts the property itself by counting the registry's work.
 */
import type { PgmapRegistered } from '../src/events/types.js';
import { buildPipeline, type Pipeline } from '../src/pipeline.js';
import { PMEM_PFN } from '../test/helpers/events.js';

export interface PgmapChurnBench {
  /** register + teardown pairs: seconds for 2,000 and 8,000, and 8,000 / 2,000. */
  pairs: { small: number; large: number; seconds2000: number; seconds8000: number; ratio: number };
  /** pgmaps registered and left live (unsorted pfns): the same figures. */
  live: { small: number; large: number; seconds2000: number; seconds8000: number; ratio: number };
}

const PAGES = 512;
const at = { pid: 1, comm: 'ndctl' };

function pipeline(): Pipeline {
  return buildPipeline({
    model: 'new',
    kernelRelease: '7.3.4',
    assumeProbesWhenUnknown: true,
    sink: { violation() {} },
  });
}

function registered(i: number, pfn: number, t: number): PgmapRegistered {
  return {
    type: 'pgmap_registered',
    t,
    ...at,
    pgmap: `0xffff8881${i.toString(16).padStart(8, '0')}`,
    pgmapType: 'fs_dax',
    ranges: [{ pfn, nrPages: PAGES }],
    vmemmapShift: 0,
    hasPageFree: false,
    altmap: false,
    device: 'namespace0.0',
    source: 'hook',
  };
}

function pairs(n: number): number {
  const p = pipeline();
  let t = 1e9;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const e = registered(i, PMEM_PFN + (i % 2) * PAGES, (t += 1000));
    p.ingest(e);
    p.ingest({ type: 'pgmap_teardown_begin', t: (t += 1000), ...at, pgmap: e.pgmap });
    p.ingest({ type: 'pgmap_ref_released', t: (t += 1000), ...at, pgmap: e.pgmap });
    p.ingest({ type: 'pgmap_teardown_done', t: (t += 1000), ...at, pgmap: e.pgmap });
  }
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function live(n: number): number {
  const p = pipeline();
  let t = 1e9;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) p.ingest(registered(i, PMEM_PFN + ((i * 7919) % n) * PAGES, (t += 1000)));
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function best(runs: number, f: () => number): number {
  let b = Infinity;
  for (let i = 0; i < runs; i++) b = Math.min(b, f());
  return b;
}

export function benchPgmapChurn(small = 2_000, large = 8_000): PgmapChurnBench {
  const figures = (f: (n: number) => number) => {
    f(small); // warm-up
    const s = best(3, () => f(small));
    const l = best(3, () => f(large));
    return { small, large, seconds2000: s, seconds8000: l, ratio: Math.round((l / s) * 100) / 100 };
  };
  return { pairs: figures(pairs), live: figures(live) };
}
