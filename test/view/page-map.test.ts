import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  MAP_STATES,
  UNCERTAIN_CODE,
  UNKNOWN_CODE,
  decodeRuns,
  encodeRuns,
  mergeBlocks,
  overlayTracked,
  pageIndex,
  pagesPerCell,
  scanCounts,
  trackedFolios,
} from '../../src/server/view/page-map.js';
import { STATE_CODE } from '../../src/state/folio-store.js';

const S = MAP_STATES.length;
const cell = (counts: Int32Array, c: number) =>
  Object.fromEntries(MAP_STATES.map((s, i) => [s, counts[c * S + i]!]).filter(([, v]) => v !== 0));

describe('page map aggregation', () => {
  it('cuts pages into at most `cells` cells', () => {
    expect(pagesPerCell(262144, 4096)).toBe(64);
    expect(pagesPerCell(4096, 4096)).toBe(1);
    expect(pagesPerCell(100, 4096)).toBe(1);
    expect(pagesPerCell(1000, 3)).toBe(334);
    expect(pagesPerCell(10, 0)).toBe(10);
  });

  it('finds page indexes across ranges laid end to end', () => {
    const ranges = [
      { pfn: 100, nrPages: 10 },
      { pfn: 500, nrPages: 5 },
    ];
    expect(pageIndex(ranges, 100)).toBe(0);
    expect(pageIndex(ranges, 109)).toBe(9);
    expect(pageIndex(ranges, 502)).toBe(12);
    expect(pageIndex(ranges, 110)).toBe(-1);
  });

  it('counts the scan per cell, the last cell short, and all unknown before a scan', () => {
    const codes = new Uint8Array([0, 0, 1, 2, 4, 0, 3]);
    const c = scanCounts(7, 3, codes);
    expect(c.length).toBe(3 * S);
    expect(cell(c, 0)).toEqual({ idle: 2, mapped: 1 });
    expect(cell(c, 1)).toEqual({ pinned: 1, free: 1, idle: 1 });
    expect(cell(c, 2)).toEqual({ referenced: 1 });
    const none = scanCounts(7, 3, null);
    expect([0, 1, 2].map((i) => cell(none, i))).toEqual([{ unknown: 3 }, { unknown: 3 }, { unknown: 1 }]);
  });

  it('lays tracked folios over the scan, compound ones over all their pages', () => {
    const codes = new Uint8Array(16); // all idle
    const base = scanCounts(16, 4, codes);
    const out = overlayTracked(
      base,
      16,
      4,
      codes,
      trackedFolios([
        { index: 0, order: 0, code: STATE_CODE.mapped },
        { index: 4, order: 3, code: STATE_CODE.pinned },
        { index: 15, order: 0, code: UNCERTAIN_CODE },
      ]),
    );
    expect(cell(out, 0)).toEqual({ idle: 3, mapped: 1 });
    expect(cell(out, 1)).toEqual({ pinned: 4 });
    expect(cell(out, 2)).toEqual({ pinned: 4 });
    expect(cell(out, 3)).toEqual({ idle: 3, uncertain: 1 });
    // the scan's part is not modified (it is cached between requests)
    expect(cell(base, 1)).toEqual({ idle: 4 });
    // with no scan, tracked pages leave `unknown`
    const u = overlayTracked(
      scanCounts(4, 4, null),
      4,
      4,
      null,
      trackedFolios([{ index: 2, order: 0, code: STATE_CODE.free }]),
    );
    expect(cell(u, 0)).toEqual({ unknown: 3, free: 1 });
  });

  it('a folio reaching past the end counts only pages inside', () => {
    const codes = new Uint8Array(6);
    const out = overlayTracked(
      scanCounts(6, 2, codes),
      6,
      2,
      codes,
      trackedFolios([{ index: 4, order: 3, code: 2 }]),
    );
    expect(cell(out, 2)).toEqual({ pinned: 2 });
    expect(out.reduce((a, b) => a + b, 0)).toBe(6);
  });

  it("the page's state columns are the server's, in the same order", () => {
    const js = fs.readFileSync(path.join(import.meta.dirname, '..', '..', 'view', 'view.js'), 'utf8');
    const m = /const STATES = (\[[^\]]*\]);/.exec(js);
    expect(m).not.toBeNull();
    expect(JSON.parse(m![1]!.replace(/'/g, '"'))).toEqual([...MAP_STATES]);
  });

  it('run-length encodes identical cells and decodes back', () => {
    const codes = new Uint8Array(4096);
    codes[100] = STATE_CODE.pinned;
    codes[6] = UNKNOWN_CODE;
    const counts = scanCounts(4096, 1, codes);
    const runs = encodeRuns(counts);
    expect(runs.length).toBe(5);
    expect(runs[0]).toEqual([6, 1, ...new Array<number>(MAP_STATES.length - 1).fill(0)]);
    expect(JSON.stringify(runs).length).toBeLessThan(200);
    const cells = decodeRuns(runs);
    expect(cells.length).toBe(4096);
    expect(cells.flat()).toEqual([...counts]);
  });

  it('merges compound heads, tracked newest, bounded', () => {
    const m = mergeBlocks(
      [
        { index: 512, order: 9 },
        { index: 0, order: 9 },
        { index: 7, order: 0 },
      ],
      trackedFolios([
        { index: 512, order: 2, code: 1 },
        { index: 1024, order: 9, code: 2 },
      ]),
      2,
    );
    expect(m).toEqual({
      blocks: [
        { index: 0, order: 9 },
        { index: 512, order: 2 },
      ],
      truncated: true,
    });
  });
});
