import { describe, expect, it } from 'vitest';
import { PMEM_PFN, Stream } from '../helpers/events.js';
import { kinds, run } from '../helpers/pipeline.js';

describe('devmap_in_new_model (V10)', () => {
  it('new model: an FS DAX or device-dax page mapped by a pfn insert fires', () => {
    for (const type of ['fs_dax', 'generic'] as const) {
      const s = new Stream('new').pgmap(type).map(PMEM_PFN, 2, 1, 'vmf_insert_mixed_mkwrite');
      expect(kinds(run('new', s))).toContain('devmap_in_new_model');
    }
  });

  it('old model mirror: an FS DAX page mapped through vmf_insert_page_mkwrite fires', () => {
    const s = new Stream('old').pgmap().map(PMEM_PFN, 2, 1, 'vmf_insert_page_mkwrite');
    expect(kinds(run('old', s))).toEqual(['devmap_in_new_model']);
  });

  it("each model's own insert functions stay quiet, PMD ones included", () => {
    const n = new Stream('new')
      .pgmap()
      .map(PMEM_PFN, 1, 1)
      .map(PMEM_PFN + 512, 1, 1, 'vmf_insert_folio_pmd', 9);
    expect(kinds(run('new', n))).toEqual([]);
    const o = new Stream('old')
      .pgmap()
      .map(PMEM_PFN, 1, 0)
      .map(PMEM_PFN + 512, 1, 0, 'vmf_insert_pfn_pmd');
    expect(kinds(run('old', o))).toEqual([]);
    // old device-dax is devmap-mapped too
    expect(
      kinds(run('old', new Stream('old').pgmap('generic').map(PMEM_PFN, 1, 0, 'vmf_insert_mixed'))),
    ).toEqual([]);
  });
});
