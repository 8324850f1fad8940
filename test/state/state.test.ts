import { describe, expect, it } from 'vitest';
import { FOLIO_STATES } from '../../src/state/folio-store.js';
import type { DaxState } from '../../src/state/state.js';
import { PGMAP, PMEM_PFN, Stream } from '../helpers/events.js';
import { run } from '../helpers/pipeline.js';

/** The per-pgmap counters must always equal a recount of the rows. */
function expectCountersExact(state: DaxState) {
  const f = state.folios;
  for (const p of [...state.pgmaps.all, state.unassigned]) {
    const counts = new Array(FOLIO_STATES.length).fill(0);
    let tracked = 0;
    let uncertain = 0;
    for (let r = 0; r < f.size; r++) {
      const idx = f.pgmap[r]!;
      const bucket = idx === 0xffff ? state.unassigned : state.pgmaps.byIdx(idx);
      if (bucket !== p) continue;
      counts[f.state[r]!]++;
      tracked++;
      if (state.isUncertain(r)) uncertain++;
    }
    expect([...p.stateCounts]).toEqual(counts);
    expect(p.tracked).toBe(tracked);
    expect(p.uncertain).toBe(uncertain);
  }
}

function stateOf(s: DaxState, pfn: number) {
  const row = s.folios.find(pfn);
  return {
    state: FOLIO_STATES[s.folios.state[row]!],
    refcount: s.folios.refcount[row],
    mapcount: s.folios.mapcount[row],
    uncertain: s.isUncertain(row),
  };
}

describe('state machine', () => {
  it('new model: a page goes idle → mapped → (unmapped, inferred refcount 0) → free', () => {
    const s = new Stream('new').pgmap().insert(PMEM_PFN);
    const steps: unknown[] = [];
    const snap = () => {
      const r = run('new', s.events.slice());
      steps.push(stateOf(r.pipeline.state, PMEM_PFN));
      expectCountersExact(r.pipeline.state);
    };
    snap();
    s.map(PMEM_PFN, 1, 1);
    snap();
    s.unmap(PMEM_PFN, 1, 1);
    snap();
    s.free(PMEM_PFN);
    snap();
    expect(steps).toEqual([
      { state: 'idle', refcount: 0, mapcount: 0, uncertain: false },
      { state: 'mapped', refcount: 1, mapcount: 1, uncertain: false },
      { state: 'idle', refcount: 0, mapcount: 0, uncertain: false },
      { state: 'free', refcount: 0, mapcount: 0, uncertain: false },
    ]);
  });

  it('old model: the page stays at refcount 1; a devmap mapping is mapped_unknown (its unmap is not observable, docs/kernel-model.md §12)', () => {
    const s = new Stream('old').pgmap().insert(PMEM_PFN).map(PMEM_PFN, 1, 0);
    const r = run('old', s);
    expect(stateOf(r.pipeline.state, PMEM_PFN)).toEqual({
      state: 'mapped_unknown',
      refcount: 1,
      mapcount: 0,
      uncertain: false,
    });
    s.remove(PMEM_PFN, 1);
    expect(stateOf(run('old', s).pipeline.state, PMEM_PFN)).toMatchObject({ state: 'idle', refcount: 1 });
  });

  it('a vmsplice-style GUP get shows as pinned until the put (old) or the free (new)', () => {
    const old = new Stream('old').pgmap().insert(PMEM_PFN).map(PMEM_PFN, 1, 0).gup('get', PMEM_PFN, 2);
    expect(stateOf(run('old', old).pipeline.state, PMEM_PFN).state).toBe('pinned');
    old.put(PMEM_PFN, 2);
    expect(stateOf(run('old', old).pipeline.state, PMEM_PFN)).toMatchObject({
      state: 'mapped_unknown',
      refcount: 1,
    });
    const nu = new Stream('new')
      .pgmap()
      .insert(PMEM_PFN)
      .map(PMEM_PFN, 1, 1)
      .gup('get', PMEM_PFN, 2)
      .unmap(PMEM_PFN, 2, 1);
    expect(stateOf(run('new', nu).pipeline.state, PMEM_PFN)).toMatchObject({ state: 'pinned', refcount: 1 });
    nu.free(PMEM_PFN);
    expect(stateOf(run('new', nu).pipeline.state, PMEM_PFN)).toMatchObject({ state: 'free', refcount: 0 });
  });

  it('FOLL_PIN on an order-0 folio is counted with the 1024 pin bias', () => {
    const s = new Stream('new').pgmap().insert(PMEM_PFN).map(PMEM_PFN, 1, 1).gup('pin', PMEM_PFN, 1025);
    const st = run('new', s).pipeline.state;
    expect(st.folios.gupRefs[st.folios.find(PMEM_PFN)]).toBe(1024);
  });

  it('lost events make every tracked folio uncertain until a scan reads it again (an event reading does not)', () => {
    const s = new Stream('new').pgmap();
    for (let i = 0; i < 10; i++) s.insert(PMEM_PFN + i).map(PMEM_PFN + i, 1, 1);
    s.push('events_lost', { backend: 'libbpf', count: 3 });
    s.unmap(PMEM_PFN, 1, 1).map(PMEM_PFN + 1, 2, 2);
    s.push('refcount_sample', {
      pfn: PMEM_PFN,
      refcount: 0,
      mapcount: 0,
      flags: '0x0',
      tail: false,
      headPfn: null,
      pgmapOk: null,
      order: 0,
      pincount: 0,
    });
    const st = run('new', s).pipeline.state;
    expect(st.pgmaps.all[0]!.uncertain).toBe(9);
    expect(stateOf(st, PMEM_PFN).uncertain).toBe(false);
    expect(stateOf(st, PMEM_PFN + 1).uncertain).toBe(true);
    expect(st.lostByBackend.get('libbpf')).toBe(3);
    expectCountersExact(st);
  });

  it('a backend stop is a gap too, and open waits become uncertain', () => {
    const s = new Stream('new').pgmap();
    s.push('layout_break_begin', { tid: 9, dev: 1, ino: 12, fn: 'dax_break_layout', uninterruptible: false });
    s.push('backend_stopped', {
      backend: 'libbpf',
      reason: 'exited on SIGKILL',
      exitCode: null,
      signal: 'SIGKILL',
    });
    const st = run('new', s).pipeline.state;
    expect([...st.waits.values()][0]!.uncertain).toBe(true);
    expect(st.backendsUp.get('libbpf')).toBe(false);
  });

  it('folios seen before their pgmap move into it when it is registered', () => {
    const s = new Stream('new').insert(PMEM_PFN).map(PMEM_PFN, 1, 1).pgmap();
    const st = run('new', s).pipeline.state;
    expect(st.unassigned.tracked).toBe(0);
    expect(st.pgmaps.all[0]!.tracked).toBe(1);
    expectCountersExact(st);
  });

  it("teardown done forgets the pgmap's folios; a new pgmap over the same range starts clean", () => {
    const s = new Stream('new').pgmap();
    for (let i = 0; i < 100; i++) s.healthyPage(PMEM_PFN + i);
    s.push('pgmap_teardown_begin', { pgmap: PGMAP });
    s.push('pgmap_teardown_done', { pgmap: PGMAP });
    s.pgmap('fs_dax', PMEM_PFN, 262144, '0xffff888100b00000');
    const st = run('new', s).pipeline.state;
    expect(st.folios.size).toBe(0);
    expect(st.pgmaps.all.map((p) => [p.id, p.phase])).toEqual([
      ['pm0', 'gone'],
      ['pm1', 'live'],
    ]);
  });

  it('counters stay exact through a long random mix of events', () => {
    let seed = 11;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const s = new Stream('new').pgmap();
    for (let i = 0; i < 20_000; i++) {
      const pfn = PMEM_PFN + Math.floor(rnd() * 500);
      const k = rnd();
      if (k < 0.2) s.insert(pfn);
      else if (k < 0.4) s.map(pfn, 1 + Math.floor(rnd() * 3), 1);
      else if (k < 0.55) s.unmap(pfn, 1 + Math.floor(rnd() * 3), 1);
      else if (k < 0.65) s.free(pfn);
      else if (k < 0.75) s.gup(rnd() < 0.5 ? 'get' : 'pin', pfn, 2);
      else if (k < 0.8) s.push('events_lost', { backend: 'libbpf', count: 1 });
      else if (k < 0.9) s.remove(pfn, 0);
      else
        s.push('refcount_sample', {
          pfn,
          refcount: Math.floor(rnd() * 3),
          mapcount: 0,
          flags: '0x0',
          tail: false,
          headPfn: null,
          pgmapOk: null,
          order: 0,
          pincount: 0,
        });
    }
    const st = run('new', s).pipeline.state;
    expectCountersExact(st);
  });

  it('evicts idle folios without DAX entries when over --max-folios', async () => {
    const { buildPipeline } = await import('../../src/pipeline.js');
    const p = buildPipeline({ model: 'new', kernelRelease: 'x', sink: { violation() {} }, maxFolios: 100 });
    const s = new Stream('new').pgmap();
    for (let i = 0; i < 300; i++) s.healthyPage(PMEM_PFN + i);
    for (const e of s.events) p.ingest(e);
    expect(p.state.folios.size).toBeLessThanOrEqual(100);
    expect(p.state.evicted).toBeGreaterThanOrEqual(200);
    expectCountersExact(p.state);
  });
});
