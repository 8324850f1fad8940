import { describe, expect, it } from 'vitest';
import { PMEM_PFN, Stream } from '../helpers/events.js';
import { kinds, run } from '../helpers/pipeline.js';

const config = { idleMismatchSeconds: 30 };

describe('idle_refcount_mismatch (V6)', () => {
  it('new model: an unmapped, unpinned FS DAX folio stuck at 1 past the threshold is a leaked reference', () => {
    // refcount 2 read before the unmap: the mapping's ref plus a leaked one
    const s = new Stream('new').pgmap().insert(PMEM_PFN).map(PMEM_PFN, 2, 1).unmap(PMEM_PFN, 2, 1).wait(31);
    const r = run('new', s, { config });
    expect(kinds(r)).toEqual(['idle_refcount_mismatch']);
    expect(r.violations[0]).toMatchObject({
      pfn: PMEM_PFN,
      observed: { refcount: 1, mapcount: 0 },
      expected: { refcount: '0' },
    });
  });

  it('new model: not before the threshold', () => {
    const s = new Stream('new').pgmap().insert(PMEM_PFN).map(PMEM_PFN, 2, 1).unmap(PMEM_PFN, 2, 1).wait(29);
    expect(kinds(run('new', s, { config }))).toEqual([]);
  });

  it('old model: an FS DAX page idle at 0 is an off-by-one', () => {
    const s = new Stream('old').pgmap().insert(PMEM_PFN);
    s.push('folio_idle', { pfn: PMEM_PFN, order: 0, refcount: 0 });
    s.wait(31);
    const r = run('old', s, { config });
    expect(kinds(r)).toEqual(['idle_refcount_mismatch']);
    expect(r.violations[0]).toMatchObject({ expected: { refcount: '1' }, observed: { refcount: 0 } });
  });

  it('a page held by GUP (a pipe) for longer than the threshold is not a leak, in both models', () => {
    for (const model of ['old', 'new'] as const) {
      const s = new Stream(model).pgmap().pinnedPage(PMEM_PFN, 45);
      expect(kinds(run(model, s, { config }))).toEqual([]);
    }
  });

  it('healthy lifecycles stay quiet for both models even long after', () => {
    for (const model of ['old', 'new'] as const) {
      const s = new Stream(model).pgmap();
      for (let i = 0; i < 32; i++) s.healthyPage(PMEM_PFN + i);
      s.wait(120);
      expect(kinds(run(model, s, { config }))).toEqual([]);
    }
  });

  it('is inactive on a live host whose free hook did not attach (new model)', () => {
    const s = new Stream('new')
      .probes(['folio_unmap'])
      .pgmap()
      .insert(PMEM_PFN)
      .map(PMEM_PFN, 2, 1)
      .unmap(PMEM_PFN, 2, 1)
      .wait(31);
    const r = run('new', s, { config, assumeProbes: false });
    expect(kinds(r)).toEqual([]);
    const a = r.pipeline.engine.activity().find((c) => c.kind === 'idle_refcount_mismatch')!;
    expect(a.active).toBe(false);
    expect(a.reason).toMatch(/folio_unmap \+ zone_device_free/);
  });

  it('does not judge folios made uncertain by lost events', () => {
    const s = new Stream('new').pgmap().insert(PMEM_PFN).map(PMEM_PFN, 2, 1);
    s.push('events_lost', { backend: 'libbpf', count: 10 });
    s.wait(60);
    const r = run('new', s, { config });
    expect(kinds(r)).toEqual([]);
    expect(r.pipeline.state.isUncertain(r.pipeline.state.folios.find(PMEM_PFN))).toBe(true);
  });
});
