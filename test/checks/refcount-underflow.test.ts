import { describe, expect, it } from 'vitest';
import { PMEM_PFN, Stream } from '../helpers/events.js';
import { kinds, run } from '../helpers/pipeline.js';

describe('refcount_underflow (V2)', () => {
  it('old model: a put taking an FS DAX page below 1 fires', () => {
    const s = new Stream('old').pgmap().insert(PMEM_PFN).map(PMEM_PFN, 1, 0).put(PMEM_PFN, 1, 1);
    const r = run('old', s);
    expect(kinds(r)).toEqual(['refcount_underflow']);
    expect(r.violations[0]!.message).toMatch(/1-based/);
  });

  it('old model: an FS DAX page reaching free_zone_device_folio fires', () => {
    const s = new Stream('old').pgmap().insert(PMEM_PFN).free(PMEM_PFN);
    expect(kinds(run('old', s))).toEqual(['refcount_underflow']);
  });

  it('new model: a second free with no get or map in between fires', () => {
    const s = new Stream('new').pgmap().healthyPage(PMEM_PFN).free(PMEM_PFN);
    const r = run('new', s);
    expect(kinds(r)).toEqual(['refcount_underflow']);
    expect(r.violations[0]!.message).toMatch(/freed twice/);
  });

  it('new model: device-private, coherent and P2PDMA folios freed twice are not accused: their driver re-allocates them unseen (kernel-model §13)', () => {
    for (const type of ['private', 'coherent', 'pci_p2pdma'] as const) {
      const s = new Stream('new').pgmap(type).free(PMEM_PFN).free(PMEM_PFN).free(PMEM_PFN);
      expect(kinds(run('new', s)), type).toEqual([]);
    }
    // device-dax is handed out through a map daxmon sees: a second free is still an underflow.
    const g = new Stream('new').pgmap('generic').free(PMEM_PFN).free(PMEM_PFN);
    expect(kinds(run('new', g))).toEqual(['refcount_underflow']);
  });

  it('new model: free, map again, free again is healthy', () => {
    const s = new Stream('new').pgmap().healthyPage(PMEM_PFN).healthyPage(PMEM_PFN);
    expect(kinds(run('new', s))).toEqual([]);
  });

  it('any negative reading fires in either model', () => {
    for (const model of ['old', 'new'] as const) {
      const s = new Stream(model).pgmap().insert(PMEM_PFN).remove(PMEM_PFN, -1);
      expect(kinds(run(model, s))).toContain('refcount_underflow');
    }
  });

  it('a pin released through the old put path is healthy', () => {
    const s = new Stream('old').pgmap().pinnedPage(PMEM_PFN, 2);
    expect(kinds(run('old', s))).toEqual([]);
  });

  it('a repeated underflow on the same folio is counted, not reported again', () => {
    const s = new Stream('old').pgmap().insert(PMEM_PFN).put(PMEM_PFN, 1).put(PMEM_PFN, 1).put(PMEM_PFN, 1);
    const r = run('old', s);
    expect(kinds(r)).toEqual(['refcount_underflow']);
    expect(r.violations[0]!.count).toBe(3);
  });
});
