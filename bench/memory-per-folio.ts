/**
 * Memory per tracked folio: ten million folios (the design target) are made tracked through the
 * real state machine (one DAX entry insert and one map each, new model), then the process's
 * memory growth is divided by the folio count. Reported with the ratio to the budget of
 * "well under 1 GiB for ten million" (107 bytes per folio).
 */
import { DaxState } from '../src/state/state.js';
import type { DaxEvent } from '../src/events/types.js';

export interface MemoryBench {
  folios: number;
  storeBytesPerFolio: number;
  processBytesPerFolio: number;
  budgetBytesPerFolio: number;
  ratioToBudget: number;
}

function used(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

export function benchMemory(n = 10_000_000): MemoryBench {
  globalThis.gc?.();
  const before = used();
  const st = new DaxState({ model: 'new', maxFolios: n + 1 });
  const base = 0x1000000;
  st.apply({
    type: 'pgmap_registered',
    t: 1,
    pid: 1,
    comm: 'b',
    pgmap: '0x1',
    pgmapType: 'fs_dax',
    ranges: [{ pfn: base, nrPages: n }],
    vmemmapShift: 0,
    hasPageFree: false,
    altmap: false,
    source: 'hook',
  });
  // One mutable event object per type: the bench measures the state, not the events.
  const ins = {
    type: 'dax_entry_insert',
    t: 2,
    pid: 1,
    comm: 'b',
    pfn: 0,
    order: 0,
    dev: 1,
    ino: 12,
    index: 0,
    zero: false,
    empty: false,
    shared: false,
  } as DaxEvent & { pfn: number; index: number; t: number };
  const map = {
    type: 'folio_map',
    t: 3,
    pid: 1,
    comm: 'b',
    pfn: 0,
    order: 0,
    via: 'vmf_insert_page_mkwrite',
    write: true,
    ret: 0x100,
    refcount: 1,
    mapcount: 1,
  } as DaxEvent & { pfn: number; t: number };
  for (let i = 0; i < n; i++) {
    ins.pfn = base + i;
    ins.index = i;
    ins.t += 2;
    st.apply(ins);
    map.pfn = base + i;
    map.t = ins.t + 1;
    st.apply(map);
  }
  globalThis.gc?.();
  const grown = used() - before;
  const budget = (1 << 30) / 10_000_000;
  return {
    folios: st.folios.size,
    storeBytesPerFolio: Number((st.folios.bytes / st.folios.size).toFixed(1)),
    processBytesPerFolio: Number((grown / st.folios.size).toFixed(1)),
    budgetBytesPerFolio: Number(budget.toFixed(1)),
    ratioToBudget: Number((grown / st.folios.size / budget).toFixed(3)),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(benchMemory(Number(process.argv[2] ?? 10_000_000))));
}
