import { describe, expect, it } from 'vitest';
import { FolioStore } from '../../src/state/folio-store.js';

/** A tiny deterministic PRNG so failures reproduce. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('FolioStore', () => {
  it('finds what it stores and forgets what it removes, like a Map, under random churn', () => {
    const store = new FolioStore();
    const model = new Map<number, number>();
    const r = rng(7);
    for (let i = 0; i < 200_000; i++) {
      // pfns clustered like a pgmap, plus some far above 2^32
      const pfn = r() < 0.9 ? 0x140000 + Math.floor(r() * 50_000) : 2 ** 33 + Math.floor(r() * 1000);
      const op = r();
      if (op < 0.6) {
        const row = store.upsert(pfn);
        store.refcount[row] = i;
        model.set(pfn, i);
      } else if (op < 0.85) {
        expect(store.remove(pfn)).toBe(model.delete(pfn));
      } else {
        const row = store.find(pfn);
        if (model.has(pfn)) expect(store.refcount[row]).toBe(model.get(pfn));
        else expect(row).toBe(-1);
      }
    }
    expect(store.size).toBe(model.size);
    for (const [pfn, v] of model) expect(store.refcount[store.find(pfn)]).toBe(v);
  });

  it('upsert reports whether it created the row and zeroes a reused row', () => {
    const s = new FolioStore();
    const a = s.upsert(10);
    expect(s.created).toBe(true);
    s.refcount[a] = 5;
    s.flags[a] = 3;
    expect(s.upsert(10)).toBe(a);
    expect(s.created).toBe(false);
    s.remove(10);
    const b = s.upsert(10);
    expect(s.created).toBe(true);
    expect([s.refcount[b], s.flags[b], s.pgmap[b]]).toEqual([0, 0, 0xffff]);
  });

  it('costs well under 100 bytes per folio at a million folios', () => {
    const s = new FolioStore();
    for (let i = 0; i < 1_000_000; i++) s.upsert(0x100000 + i);
    expect(s.size).toBe(1_000_000);
    expect(s.bytes / s.size).toBeLessThan(100);
  });
});
