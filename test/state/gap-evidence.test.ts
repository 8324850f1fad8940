/**
 * Issue 11: an alarm never rests on state a known gap made uncertain (docs/kernel-model.md §10).
 * Synthetic streams rebuilt from the false alarms: a gap (a skipped program run reported as
 * probe_missed, or the existing events_lost path) followed by the events that made daxmon raise.
 */
import { describe, expect, it } from 'vitest';
import { PMEM_PFN, Stream } from '../helpers/events.js';
import { kinds, run } from '../helpers/pipeline.js';

const P = PMEM_PFN;
const missed = (s: Stream, probe: string, n = 1): Stream =>
  s.push('probe_missed', {
    backend: 'libbpf',
    probe,
    program: `${probe}__fexit__x`,
    missed: n,
    runs: 1_000_000,
    misses: n,
  });

/** A PMD folio freed and re-used by another process; the gap hides its new insert and map. */
function pmdReuse(gap: (s: Stream) => Stream): Stream {
  const s = new Stream('new').pgmap();
  s.insert(P, 0, 9).map(P, 1, 1, 'vmf_insert_folio_pmd', 9).unmap(P, 1, 1, 1, 9).free(P, 0, 0, 9);
  s.remove(P, 0, 0);
  gap(s);
  // Another process: insert and map that daxmon does see, then a PTE-style unmap of all 512
  // pages (nr 512) whose inferred refcount (1 - 512) is daxmon's own arithmetic: -511.
  s.insert(P, 0, 9).map(P, 1, 1, 'vmf_insert_folio_pmd', 9).unmap(P, 1, 1, 512, 9);
  return s.wait(40);
}

describe('gaps make state uncertain, never evidence', () => {
  it('events_lost then an event reading: the row stays uncertain until a scan (no idle_refcount_mismatch at -511)', () => {
    const r = run(
      'new',
      pmdReuse((s) => s.push('events_lost', { backend: 'bpftrace', count: 61_153 })),
    );
    expect(kinds(r)).toEqual([]);
    const row = r.pipeline.state.folios.find(P);
    expect(r.pipeline.state.isUncertain(row)).toBe(true);
  });

  it('the same stream without a gap still raises: the check itself is unchanged', () => {
    expect(
      kinds(
        run(
          'new',
          pmdReuse((s) => s),
        ),
      ),
    ).toEqual(['idle_refcount_mismatch']);
  });

  it('a struct-page scan re-certifies: a later wrong reading is evidence again', () => {
    const s = pmdReuse((x) => x.push('events_lost', { backend: 'libbpf', count: 1 }));
    s.push('refcount_sample', {
      pfn: P,
      refcount: 3,
      mapcount: 0,
      flags: '0x0',
      tail: false,
      headPfn: null,
      pgmapOk: null,
      order: 9,
      pincount: 0,
    });
    s.wait(40);
    const r = run('new', s);
    expect(r.pipeline.state.isUncertain(r.pipeline.state.folios.find(P))).toBe(false);
    expect(kinds(r)).toEqual(['idle_refcount_mismatch']);
  });

  it('a skipped folio_map run (recursion miss) makes every tracked folio uncertain: no second-free alarm', () => {
    const s = new Stream('new').pgmap().healthyPage(P);
    missed(s, 'folio_map_pte');
    s.free(P); // its map and unmap were both skipped runs
    const r = run('new', s);
    expect(kinds(r)).toEqual([]);
    expect(r.pipeline.state.lostByReason.get('libbpf:recursion_miss')).toBe(1);
    expect(r.pipeline.state.lostByBackend.get('libbpf')).toBe(1);
    expect(r.pipeline.state.missesByProbe.get('libbpf:folio_map_pte')?.missed).toBe(1);
  });

  it('a skipped layout-break run only makes waits uncertain: a second free is still evidence', () => {
    const s = new Stream('new').pgmap().healthyPage(P);
    missed(s, 'layout_break');
    s.free(P);
    expect(kinds(run('new', s))).toEqual(['refcount_underflow']);
  });

  it('a report with missed 0 only refreshes the run totals: no gap, no loss', () => {
    const s = new Stream('new').pgmap().healthyPage(P);
    missed(s, 'folio_map_pte', 0);
    s.free(P);
    const r = run('new', s);
    expect(kinds(r)).toEqual(['refcount_underflow']);
    expect(r.pipeline.state.lostByBackend.get('libbpf')).toBeUndefined();
    expect(r.pipeline.state.programStats.get('libbpf:folio_map_pte__fexit__x')).toMatchObject({
      runs: 1_000_000,
    });
  });

  it('xfs: an unmap at mapcount 1 between two frees proves a map in between (no refcount_underflow)', () => {
    // The xfs alarm: the insert and map were skipped runs, the unmap was seen.
    const s = new Stream('new').pgmap().healthyPage(P);
    s.unmap(P, 1, 1).free(P);
    expect(kinds(run('new', s))).toEqual([]);
  });
});
