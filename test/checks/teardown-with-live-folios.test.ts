import { describe, expect, it } from 'vitest';
import { PGMAP, PMEM_PFN, Stream } from '../helpers/events.js';
import { kinds, run } from '../helpers/pipeline.js';

describe('teardown_with_live_folios (V5)', () => {
  it('new model: tearing down a pgmap while a folio is mapped is an error naming the pfn', () => {
    const s = new Stream('new').pgmap().insert(PMEM_PFN).map(PMEM_PFN, 1, 1);
    s.push('pgmap_teardown_begin', { pgmap: PGMAP });
    const r = run('new', s);
    expect(kinds(r)).toEqual(['teardown_with_live_folios']);
    expect(r.violations[0]).toMatchObject({
      severity: 'error',
      pfn: PMEM_PFN,
      pgmap: { id: 'pm0', type: 'fs_dax' },
    });
    expect(r.violations[0]!.details).toMatchObject({ mapped: 1, entries: 1 });
  });

  it('old model: a devmap-mapped page (no mapcount kept) still counts as live', () => {
    const s = new Stream('old').pgmap().insert(PMEM_PFN).map(PMEM_PFN, 1, 0);
    s.push('pgmap_teardown_begin', { pgmap: PGMAP });
    const r = run('old', s);
    expect(kinds(r)).toEqual(['teardown_with_live_folios']);
    expect(r.violations[0]!.severity).toBe('error');
  });

  it('a pinned page makes it an error in the old model too', () => {
    const s = new Stream('old').pgmap().insert(PMEM_PFN).gup('get', PMEM_PFN, 2);
    s.push('pgmap_teardown_begin', { pgmap: PGMAP });
    expect(run('old', s).violations[0]).toMatchObject({ severity: 'error', details: { pinned: 1 } });
  });

  it('only DAX entries left (file exists, nothing mapped) is a warning', () => {
    const s = new Stream('new')
      .pgmap()
      .insert(PMEM_PFN)
      .map(PMEM_PFN, 1, 1)
      .unmap(PMEM_PFN, 1, 1)
      .free(PMEM_PFN);
    s.push('pgmap_teardown_begin', { pgmap: PGMAP });
    expect(run('new', s).violations[0]).toMatchObject({
      severity: 'warning',
      details: { entries: 1, mapped: 0 },
    });
  });

  it('stays quiet when every folio is idle and its entry removed, and the teardown completes', () => {
    for (const model of ['old', 'new'] as const) {
      const s = new Stream(model).pgmap();
      for (let i = 0; i < 8; i++) s.healthyPage(PMEM_PFN + i);
      s.push('pgmap_teardown_begin', { pgmap: PGMAP });
      s.push('pgmap_ref_released', { pgmap: PGMAP });
      s.push('pgmap_teardown_done', { pgmap: PGMAP });
      const r = run(model, s);
      expect(kinds(r)).toEqual([]);
      expect(r.pipeline.state.pgmaps.all[0]!.phase).toBe('gone');
      expect(r.pipeline.state.folios.size).toBe(0);
    }
  });

  it('warns when the pgmap ref is not released long after teardown began', () => {
    const s = new Stream('new').pgmap();
    s.push('pgmap_teardown_begin', { pgmap: PGMAP });
    s.wait(15);
    const r = run('new', s, { config: { teardownReleaseWarnSeconds: 10 } });
    expect(r.violations.map((v) => [v.kind, v.severity])).toEqual([['teardown_with_live_folios', 'warning']]);
    expect(r.violations[0]!.message).toMatch(/slow release/);
  });

  it('binds a teardown to a pgmap discovered at start-up by its range', () => {
    const s = new Stream('new');
    s.push('pgmap_registered', {
      pgmap: 'sysfs:namespace0.0',
      pgmapType: 'fs_dax',
      ranges: [{ pfn: PMEM_PFN, nrPages: 262144 }],
      vmemmapShift: 0,
      hasPageFree: false,
      altmap: false,
      device: 'namespace0.0',
      source: 'discovered',
    });
    s.insert(PMEM_PFN).map(PMEM_PFN, 1, 1);
    s.push('pgmap_teardown_begin', { pgmap: PGMAP, range: { pfn: PMEM_PFN, nrPages: 262144 } });
    const r = run('new', s);
    expect(kinds(r)).toEqual(['teardown_with_live_folios']);
    expect(r.pipeline.state.pgmaps.get(PGMAP)?.id).toBe('pm0');
  });
});
