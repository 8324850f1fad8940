import { describe, expect, it } from 'vitest';
import { FOLL } from '../../src/events/types.js';
import { PMEM_PFN, Stream } from '../helpers/events.js';
import { kinds, run } from '../helpers/pipeline.js';

describe('longterm_pin_on_fsdax (V11)', () => {
  it('a successful FOLL_LONGTERM pin of an FS DAX page fires, in both models', () => {
    for (const model of ['old', 'new'] as const) {
      const s = new Stream(model)
        .pgmap()
        .insert(PMEM_PFN)
        .gup('pin', PMEM_PFN, 1025, FOLL.PIN | FOLL.LONGTERM);
      const r = run(model, s);
      expect(kinds(r)).toEqual(['longterm_pin_on_fsdax']);
      expect(r.violations[0]!.details).toMatchObject({ flags: FOLL.PIN | FOLL.LONGTERM });
    }
  });

  it('a refused attempt is counted, not reported; short-term pins and device-dax long-term pins are fine', () => {
    const s = new Stream('new').pgmap().insert(PMEM_PFN);
    s.push('gup_longterm_refused', { flags: FOLL.PIN | FOLL.LONGTERM, result: -95 });
    s.gup('pin', PMEM_PFN, 1025, FOLL.PIN);
    const r = run('new', s);
    expect(kinds(r)).toEqual([]);
    expect(r.pipeline.state.gupLongtermRefused).toBe(1);
    const d = new Stream('new').pgmap('generic').gup('pin', PMEM_PFN, 1026, FOLL.PIN | FOLL.LONGTERM);
    expect(kinds(run('new', d))).toEqual([]);
  });
});
