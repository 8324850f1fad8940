import { describe, expect, it } from 'vitest';
import { truthState } from '../../src/scan/truth.js';
import { FOLIO_STATES } from '../../src/state/folio-store.js';

const state = (...a: Parameters<typeof truthState>) => FOLIO_STATES[truthState(...a)];
const c = (refcount: number, mapcount = 0, pincount = 0, order = 0) => ({
  refcount,
  mapcount,
  pincount,
  order,
});

describe('truth of a struct page (docs/kernel-model.md §2.4, §3)', () => {
  it('FS DAX idles at 1 in the old model and at 0 in the new', () => {
    expect(state(c(1), 'fs_dax', 'old')).toBe('idle');
    expect(state(c(0), 'fs_dax', 'new')).toBe('idle');
  });

  it('an old-model FS DAX page at 0 is below idle (free), a new-model one at 1 unmapped is referenced', () => {
    expect(state(c(0), 'fs_dax', 'old')).toBe('free');
    expect(state(c(1), 'fs_dax', 'new')).toBe('referenced');
  });

  it('new model: a mapping holds its reference, so refcount = mapcount is mapped, not referenced', () => {
    expect(state(c(1, 1), 'fs_dax', 'new')).toBe('mapped');
    expect(state(c(3, 2), 'fs_dax', 'new')).toBe('mapped');
  });

  it('old model: devmap mappings leave the counts alone, a vmsplice reference shows as referenced', () => {
    expect(state(c(1, 0), 'fs_dax', 'old')).toBe('idle');
    expect(state(c(2, 0), 'fs_dax', 'old')).toBe('referenced');
  });

  it('FOLL_PIN: the 1024 bias on order-0 folios, _pincount on large ones', () => {
    expect(state(c(1 + 1024), 'fs_dax', 'old')).toBe('pinned');
    expect(state(c(1 + 1024, 1), 'fs_dax', 'new')).toBe('pinned');
    expect(state(c(1023 + 1, 1), 'fs_dax', 'new')).toBe('mapped');
    expect(state(c(2, 1, 1, 9), 'fs_dax', 'new')).toBe('pinned');
    expect(state(c(2, 1, 0, 9), 'fs_dax', 'new')).toBe('mapped');
  });

  it('device-dax idles at 1 in both models; private pages idle at 0', () => {
    expect(state(c(1), 'generic', 'new')).toBe('idle');
    expect(state(c(1), 'generic', 'old')).toBe('idle');
    expect(state(c(0), 'generic', 'new')).toBe('free');
    expect(state(c(0), 'private', 'new')).toBe('idle');
  });
});
