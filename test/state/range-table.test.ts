import { describe, expect, it } from 'vitest';
import { RangeTable } from '../../src/state/range-table.js';

describe('RangeTable', () => {
  it('agrees with a plain list through inserts and removes in random order (many blocks)', () => {
    let seed = 7;
    const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n) >>> 0;
    const t = new RangeTable();
    const model = new Map<number, { start: number; end: number; idx: number }>();
    const slots = Array.from({ length: 3000 }, (_, i) => i).sort(() => (rnd(2) ? 1 : -1));
    for (const i of slots) {
      const e = { start: i * 100, end: i * 100 + 1 + rnd(99), idx: i };
      t.insert(e);
      model.set(i, e);
    }
    for (let k = 0; k < 2000; k++) {
      const i = rnd(3000);
      const e = model.get(i);
      if (e) {
        expect(t.remove(e.start, e.idx)).toBe(true);
        model.delete(i);
      } else {
        const n = { start: i * 100, end: i * 100 + 50, idx: i };
        t.insert(n);
        model.set(i, n);
      }
    }
    expect(t.size).toBe(model.size);
    for (let pfn = 0; pfn < 300_000; pfn += 7) {
      const e = model.get(Math.floor(pfn / 100));
      const want = e && pfn < e.end ? e.idx : undefined;
      expect(t.find(pfn)?.idx).toBe(want);
    }
    const inWindow = [...model.values()]
      .filter((e) => e.start < 150_050 && e.end > 100_020)
      .map((e) => e.idx)
      .sort((a, b) => a - b);
    expect(t.overlapping(100_020, 150_050).map((e) => e.idx)).toEqual(inWindow);
    expect(t.remove(123_456, 1)).toBe(false);
  });
});
