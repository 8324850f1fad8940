import { describe, expect, it } from 'vitest';
import { PMEM_PFN, Stream } from '../helpers/events.js';
import { kinds, run } from '../helpers/pipeline.js';

describe('entry_removed_while_busy (V4)', () => {
  it('old model: truncate removing the entry of a page still referenced (refcount 2) fires', () => {
    const s = new Stream('old')
      .pgmap()
      .insert(PMEM_PFN)
      .map(PMEM_PFN, 1, 0)
      .gup('get', PMEM_PFN, 2)
      .remove(PMEM_PFN, 2);
    const r = run('old', s);
    expect(kinds(r)).toEqual(['entry_removed_while_busy']);
    expect(r.violations[0]).toMatchObject({ expected: { refcount: '1' }, observed: { refcount: 2 } });
  });

  it('new model: removal while the folio holds any reference fires', () => {
    const s = new Stream('new').pgmap().insert(PMEM_PFN).map(PMEM_PFN, 1, 1).remove(PMEM_PFN, 1, 1);
    expect(kinds(run('new', s))).toEqual(['entry_removed_while_busy']);
  });

  it('old model: an invalidation (not truncate) is not judged, the kernel only WARNs for truncate', () => {
    const s = new Stream('old').pgmap().insert(PMEM_PFN);
    s.push('dax_entry_remove', {
      pfn: PMEM_PFN,
      order: 0,
      dev: 1,
      ino: 12,
      index: 0,
      trunc: false,
      refcount: 2,
      mapcount: 0,
    });
    expect(kinds(run('old', s))).toEqual([]);
  });

  it('healthy truncates stay quiet: new idle at 0, old idle at 1, both with the entry still present before', () => {
    for (const model of ['old', 'new'] as const) {
      const s = new Stream(model).pgmap();
      for (let i = 0; i < 16; i++) s.healthyPage(PMEM_PFN + i);
      expect(kinds(run(model, s))).toEqual([]);
    }
  });
});
