import { describe, expect, it } from 'vitest';
import { PMEM_PFN, Stream } from '../helpers/events.js';
import { kinds, run } from '../helpers/pipeline.js';

describe('map_zero_ref (V1)', () => {
  it('fires when the new model maps an FS DAX folio and its refcount stays 0', () => {
    const s = new Stream('new').pgmap().insert(PMEM_PFN).map(PMEM_PFN, 0, 1);
    const r = run('new', s);
    expect(kinds(r)).toEqual(['map_zero_ref']);
    expect(r.violations[0]).toMatchObject({
      pfn: PMEM_PFN,
      observed: { refcount: 0 },
      expected: { refcount: '>= 1' },
    });
  });

  it('fires when the old model maps an FS DAX page at refcount 0 (idle is 1)', () => {
    const s = new Stream('old').pgmap().insert(PMEM_PFN).map(PMEM_PFN, 0, 0);
    expect(kinds(run('old', s))).toEqual(['map_zero_ref']);
  });

  it('stays quiet on healthy lifecycles in both models', () => {
    for (const model of ['old', 'new'] as const) {
      const s = new Stream(model).pgmap();
      for (let i = 0; i < 64; i++) s.healthyPage(PMEM_PFN + i);
      expect(kinds(run(model, s))).toEqual([]);
    }
  });

  it('ignores a failed insert (VM_FAULT_SIGBUS)', () => {
    const s = new Stream('new').pgmap().insert(PMEM_PFN);
    s.push('folio_map', {
      pfn: PMEM_PFN,
      order: 0,
      via: 'vmf_insert_page_mkwrite',
      write: true,
      ret: 0x2,
      refcount: 0,
      mapcount: 0,
    });
    expect(kinds(run('new', s))).toEqual([]);
  });

  it('knows device-dax idles at 1: a new-model devdax map at refcount 1 is a zero-reference map', () => {
    const s = new Stream('new').pgmap('generic').map(PMEM_PFN, 1, 1);
    expect(kinds(run('new', s))).toEqual(['map_zero_ref']);
    const ok = new Stream('new').pgmap('generic').map(PMEM_PFN, 2, 1);
    expect(kinds(run('new', ok))).toEqual([]);
  });
});
