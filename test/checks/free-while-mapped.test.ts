import { describe, expect, it } from 'vitest';
import { PMEM_PFN, Stream } from '../helpers/events.js';
import { kinds, run } from '../helpers/pipeline.js';

describe('free_while_mapped (V3)', () => {
  it('fires when a folio is freed with a mapcount left', () => {
    const s = new Stream('new').pgmap().insert(PMEM_PFN).map(PMEM_PFN, 1, 1).free(PMEM_PFN, 0, 1);
    const r = run('new', s);
    expect(kinds(r)).toEqual(['free_while_mapped']);
    expect(r.violations[0]).toMatchObject({ observed: { mapcount: 1 }, expected: { mapcount: '0' } });
    // the violation carries the folio's history, newest first, ending with the insert
    expect(r.violations[0]!.recentEvents.map((e) => e.type)).toEqual([
      'zone_device_free',
      'folio_map',
      'dax_entry_insert',
    ]);
  });

  it('fires for device-private pages too (both models)', () => {
    for (const model of ['old', 'new'] as const) {
      const s = new Stream(model).pgmap('private').free(PMEM_PFN, 0, 2);
      expect(kinds(run(model, s))).toEqual(['free_while_mapped']);
    }
  });

  it('stays quiet when the free comes after the last unmap', () => {
    const s = new Stream('new').pgmap();
    for (let i = 0; i < 16; i++) s.healthyPage(PMEM_PFN + i);
    expect(kinds(run('new', s))).toEqual([]);
  });
});
