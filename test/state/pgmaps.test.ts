/**
 * Issue 13 item 2: pgmaps created and destroyed all day, for weeks. Torn-down pgmaps give their
 * slot back once nothing refers to it, public ids are never reused, and registering does not walk
 * the pgmaps that came and went (counted, not timed: bench/pgmap-churn.ts has the timing).
 */
import { describe, expect, it } from 'vitest';
import { buildPipeline, type Pipeline } from '../../src/pipeline.js';
import { GONE_KEPT } from '../../src/state/pgmaps.js';
import { PMEM_PFN, Stream } from '../helpers/events.js';

const PAGES = 512;

function pipeline(): { p: Pipeline; violations: number } {
  const out = { violations: 0, p: null as unknown as Pipeline };
  out.p = buildPipeline({
    model: 'new',
    kernelRelease: '7.3.4',
    assumeProbesWhenUnknown: true,
    sink: { violation: () => void out.violations++ },
  });
  return out;
}

function key(i: number): string {
  return `0xffff8881${i.toString(16).padStart(8, '0')}`;
}

/**
 * `pairs` namespaces created and destroyed in turn, as ndctl's tests do: register, a page used and
 * released (every `withFolioEvery`-th one), memunmap_pages, ref released, done. Alternate pairs
 * use two pfn ranges so that a slot is reused by a pgmap elsewhere in memory.
 */
function churn(p: Pipeline, pairs: number, from = 0, withFolioEvery = 100): void {
  const s = new Stream('new');
  let t = 1e9 + from * 10_000;
  const at = { pid: 1, comm: 'ndctl' };
  for (let i = from; i < from + pairs; i++) {
    const pfn = PMEM_PFN + (i % 2) * PAGES;
    const pgmap = key(i);
    p.ingest({
      type: 'pgmap_registered',
      t: (t += 1000),
      ...at,
      pgmap,
      pgmapType: 'fs_dax',
      ranges: [{ pfn, nrPages: PAGES }],
      vmemmapShift: 0,
      hasPageFree: false,
      altmap: false,
      device: `namespace${i % 2}.0`,
      source: 'hook',
    });
    if (i % withFolioEvery === 0) {
      s.t = t;
      s.insert(pfn).map(pfn, 1, 1).unmap(pfn, 1, 1).free(pfn).remove(pfn, 0);
      for (const e of s.events) p.ingest(e);
      s.events.length = 0;
      t = s.t;
    }
    p.ingest({ type: 'pgmap_teardown_begin', t: (t += 1000), ...at, pgmap });
    p.ingest({ type: 'pgmap_ref_released', t: (t += 1000), ...at, pgmap });
    p.ingest({ type: 'pgmap_teardown_done', t: (t += 1000), ...at, pgmap });
  }
}

describe('pgmap churn', () => {
  it('200,000 register/teardown pairs through the pipeline end with no error and bounded state', () => {
    const w = pipeline();
    expect(() => churn(w.p, 200_000)).not.toThrow();
    const st = w.p.state;
    const reg = st.pgmaps;
    expect(st.eventCount('pgmap_registered')).toBe(200_000);
    expect(st.eventCount('pgmap_teardown_done')).toBe(200_000);
    // one pgmap exists at a time: one slot serves all 200,000
    expect(reg.slotCapacity).toBe(1);
    expect(reg.slotsInUse).toBe(0);
    expect(reg.liveCount).toBe(0);
    // listed: the latest GONE_KEPT, ids never reused
    expect(reg.all.length).toBe(GONE_KEPT);
    expect(reg.all.at(-1)!.id).toBe('pm199999');
    expect(reg.all[0]!.id).toBe(`pm${200_000 - GONE_KEPT}`);
    expect(reg.byId('pm0')).toBeUndefined();
    expect(st.folios.size).toBe(0);
    expect(w.violations).toBe(0);
  }, 120_000);

  it('registration work does not grow with the pgmaps that came and went', () => {
    const w = pipeline();
    const reg = w.p.state.pgmaps;
    churn(w.p, 2_000);
    const start = reg.visited;
    churn(w.p, 2_000, 2_000);
    const early = reg.visited - start;
    churn(w.p, 50_000, 4_000);
    const before = reg.visited;
    churn(w.p, 2_000, 54_000);
    // the same 2,000 pairs cost the same after 54,000 of them as after 2,000
    expect(reg.visited - before).toBe(early);
  }, 60_000);

  it('8,000 live pgmaps register without visiting one another', () => {
    const w = pipeline();
    const s = new Stream('new');
    // in an order that is not the pfn order, so each range is inserted in the middle
    for (let i = 0; i < 8_000; i++) s.pgmap('fs_dax', PMEM_PFN + ((i * 7919) % 8_000) * PAGES, PAGES, key(i));
    for (const e of s.events) w.p.ingest(e);
    const reg = w.p.state.pgmaps;
    expect(reg.liveCount).toBe(8_000);
    expect(reg.visited).toBe(0);
    for (let i = 0; i < 8_000; i++) expect(reg.lookup(PMEM_PFN + i * PAGES + 3)).toBeDefined();
    expect(reg.lookup(PMEM_PFN + 8_000 * PAGES)).toBeUndefined();
  });

  it('a reused slot holds only the new pgmap: its folios, its counts, its lookups', () => {
    const w = pipeline();
    const st = w.p.state;
    const s = new Stream('new').pgmap('fs_dax', PMEM_PFN, PAGES, key(1));
    s.insert(PMEM_PFN + 1).map(PMEM_PFN + 1, 1, 1);
    s.push('pgmap_teardown_begin', { pgmap: key(1) });
    s.push('pgmap_teardown_done', { pgmap: key(1) });
    s.pgmap('generic', PMEM_PFN + 10 * PAGES, PAGES, key(2));
    s.map(PMEM_PFN + 10 * PAGES + 5, 2, 1);
    for (const e of s.events) w.p.ingest(e);
    const [a, b] = st.pgmaps.all;
    expect([a!.id, a!.phase, b!.id, b!.phase]).toEqual(['pm0', 'gone', 'pm1', 'live']);
    expect(b!.idx).toBe(a!.idx);
    expect(st.pgmaps.byIdx(b!.idx)).toBe(b);
    expect(st.pgmaps.lookup(PMEM_PFN + 1)).toBeUndefined();
    expect(st.pgmaps.lookup(PMEM_PFN + 10 * PAGES + 5)).toBe(b);
    expect(b!.tracked).toBe(1);
    expect(st.pgmapOf(st.folios.find(PMEM_PFN + 10 * PAGES + 5))).toBe(b);
    // a late event for the released pgmap names nothing
    w.p.ingest({ ...s.events[0]!, type: 'pgmap_ref_released', pgmap: key(1) } as never);
    expect(b!.phase).toBe('live');
  });

  it('a pgmap overlapping a live one retires it and takes over its memory', () => {
    const w = pipeline();
    const st = w.p.state;
    const s = new Stream('new').pgmap('fs_dax', PMEM_PFN, PAGES, key(1)).insert(PMEM_PFN + 1);
    s.pgmap('fs_dax', PMEM_PFN + PAGES / 2, PAGES, key(2));
    for (const e of s.events) w.p.ingest(e);
    expect(st.pgmaps.all.map((p) => [p.id, p.phase])).toEqual([
      ['pm0', 'gone'],
      ['pm1', 'live'],
    ]);
    expect(st.pgmaps.slotsInUse).toBe(1);
    expect(st.folios.size).toBe(0);
    expect(st.pgmaps.lookup(PMEM_PFN + 1)).toBeUndefined();
    expect(st.pgmaps.lookup(PMEM_PFN + PAGES)?.id).toBe('pm1');
  });
});
