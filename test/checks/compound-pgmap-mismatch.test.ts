import { describe, expect, it } from 'vitest';
import type { EventOf } from '../../src/events/types.js';
import { PMEM_PFN, Stream } from '../helpers/events.js';
import { kinds, run } from '../helpers/pipeline.js';

const sample = (o: Partial<EventOf<'refcount_sample'>>) => ({
  pfn: PMEM_PFN + 1,
  refcount: 0,
  mapcount: 0,
  flags: '0x0',
  tail: true,
  headPfn: PMEM_PFN,
  pgmapOk: true,
  order: 0,
  pincount: 0,
  ...o,
});

describe('compound_pgmap_mismatch (V7)', () => {
  it('a compound tail with a refcount of its own fires', () => {
    const s = new Stream('new').pgmap().push('refcount_sample', sample({ refcount: 1 }));
    const r = run('new', s);
    expect(kinds(r)).toEqual(['compound_pgmap_mismatch']);
    expect(r.violations[0]!.message).toMatch(/tail page at refcount 1/);
  });

  it('a tail whose head lies in another pgmap fires', () => {
    const s = new Stream('new').pgmap().pgmap('fs_dax', PMEM_PFN + 262144, 1024, '0xffff888100c00000');
    s.push('refcount_sample', sample({ pfn: PMEM_PFN + 262144 + 1, headPfn: PMEM_PFN + 10 }));
    expect(kinds(run('new', s))).toEqual(['compound_pgmap_mismatch']);
  });

  it('a page whose pgmap word points elsewhere fires, in both models', () => {
    for (const model of ['old', 'new'] as const) {
      const s = new Stream(model)
        .pgmap('generic')
        .push('refcount_sample', sample({ tail: false, headPfn: null, pgmapOk: false }));
      expect(kinds(run(model, s))).toEqual(['compound_pgmap_mismatch']);
    }
  });

  it('consistent compound folios stay quiet', () => {
    const s = new Stream('new').pgmap();
    s.push('refcount_sample', sample({ pfn: PMEM_PFN, tail: false, headPfn: null, refcount: 1, order: 9 }));
    for (let i = 1; i < 512; i++) s.push('refcount_sample', sample({ pfn: PMEM_PFN + i }));
    expect(kinds(run('new', s))).toEqual([]);
  });
});
