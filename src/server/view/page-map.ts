/**
 * The page-state map of one pgmap, as the live view draws it: the pgmap's pages cut into cells of
 * `pagesPerCell` consecutive pages, each cell the count of its pages in each state. Pure: the
 * caller hands in the last scan's per-page states and the tracked folios, so the same input always
 * gives the same map (unit-tested) and nothing here reads the kernel or runs on the intake path.
 *
 * A page's state: the tracked folio's (live events since the scan) when daxmon tracks it, shown as
 * `uncertain` when the folio was not re-read since a gap; else the last scan's reading (a tail
 * takes its head's state); else `unknown` (never scanned, or the scan could not read it).
 */
import { FOLIO_STATES } from '../../state/folio-store.js';
import type { PfnRange } from '../../events/types.js';

export const MAP_STATES = [...FOLIO_STATES, 'uncertain', 'unknown'] as const;
export type MapState = (typeof MAP_STATES)[number];
export const UNCERTAIN_CODE = FOLIO_STATES.length;
export const UNKNOWN_CODE = FOLIO_STATES.length + 1;
const S = MAP_STATES.length;

/**
 * The tracked folios of a pgmap as columns (no object per folio: a pgmap may track millions):
 * row i is the folio whose first page has index `index[i]`, of order `order[i]`, in map state
 * `code[i]`; `n` rows are used.
 */
export interface TrackedFolios {
  n: number;
  index: Int32Array;
  order: Uint8Array;
  code: Uint8Array;
}

/** TrackedFolios from a list (tests). */
export function trackedFolios(
  list: readonly { index: number; order: number; code: number }[],
): TrackedFolios {
  return {
    n: list.length,
    index: Int32Array.from(list, (f) => f.index),
    order: Uint8Array.from(list, (f) => f.order),
    code: Uint8Array.from(list, (f) => f.code),
  };
}

/** A compound folio (order > 0) by its head's page index. */
export interface Block {
  index: number;
  order: number;
}

/** Pages per cell so that `nrPages` pages fit in at most `cells` cells. */
export function pagesPerCell(nrPages: number, cells: number): number {
  return Math.max(1, Math.ceil(nrPages / Math.max(1, cells)));
}

/** Page index of `pfn` in a pgmap of `ranges` (ranges laid end to end), -1 outside. */
export function pageIndex(ranges: readonly PfnRange[], pfn: number): number {
  let base = 0;
  for (const r of ranges) {
    if (pfn >= r.pfn && pfn < r.pfn + r.nrPages) return base + (pfn - r.pfn);
    base += r.nrPages;
  }
  return -1;
}

/**
 * Per-cell counts of the scan alone: `counts[cell * S + code]`. `codes` holds one code per page
 * (null: never scanned, every page unknown). The part of the map that changes only with a scan,
 * so the caller caches it per scan.
 */
export function scanCounts(nrPages: number, ppc: number, codes: Uint8Array | null): Int32Array {
  const cells = Math.ceil(nrPages / ppc);
  const counts = new Int32Array(cells * S);
  if (!codes) {
    for (let c = 0; c < cells; c++) counts[c * S + UNKNOWN_CODE] = Math.min(ppc, nrPages - c * ppc);
    return counts;
  }
  for (let j = 0; j < nrPages; j++) counts[((j / ppc) | 0) * S + codes[j]!]!++;
  return counts;
}

/**
 * The scan's counts with the tracked folios laid over them: each page of a tracked folio moves
 * from its scanned state to the folio's. O(pages of the tracked folios), not O(pages).
 */
export function overlayTracked(
  base: Int32Array,
  nrPages: number,
  ppc: number,
  codes: Uint8Array | null,
  tracked: TrackedFolios,
): Int32Array {
  const counts = base.slice();
  for (let i = 0; i < tracked.n; i++) {
    const first = tracked.index[i]!;
    const code = tracked.code[i]!;
    const end = Math.min(nrPages, first + (1 << tracked.order[i]!));
    for (let j = Math.max(0, first); j < end; j++) {
      const c = ((j / ppc) | 0) * S;
      counts[c + (codes ? codes[j]! : UNKNOWN_CODE)]!--;
      counts[c + code]!++;
    }
  }
  return counts;
}

/**
 * Run-length encoding of the cells: `[repeat, ...counts]` per run of identical cells. A map is
 * mostly long runs (all idle, all unknown), so a 16,384-cell map is a few hundred bytes of JSON.
 */
export function encodeRuns(counts: Int32Array): number[][] {
  const runs: number[][] = [];
  const cells = counts.length / S;
  for (let c = 0; c < cells; c++) {
    const last = runs[runs.length - 1];
    if (last && sameCell(last, counts, c)) {
      last[0]!++;
      continue;
    }
    const run = [1];
    for (let s = 0; s < S; s++) run.push(counts[c * S + s]!);
    runs.push(run);
  }
  return runs;
}

function sameCell(run: number[], counts: Int32Array, c: number): boolean {
  for (let s = 0; s < S; s++) if (run[s + 1] !== counts[c * S + s]) return false;
  return true;
}

/** Inverse of encodeRuns (what the page does; here for the tests). */
export function decodeRuns(runs: readonly number[][]): number[][] {
  const cells: number[][] = [];
  for (const r of runs) for (let i = 0; i < r[0]!; i++) cells.push(r.slice(1));
  return cells;
}

/**
 * Compound folios to outline, heads from the scan and from the tracked folios (tracked wins: it
 * is newer), by page index, at most `max` (the first ones by index; `truncated` says so).
 */
export function mergeBlocks(
  scanned: readonly Block[],
  tracked: TrackedFolios,
  max: number,
): { blocks: Block[]; truncated: boolean } {
  const byIndex = new Map<number, number>();
  for (const b of scanned) if (b.order > 0) byIndex.set(b.index, b.order);
  for (let i = 0; i < tracked.n; i++)
    if (tracked.order[i]! > 0) byIndex.set(tracked.index[i]!, tracked.order[i]!);
  const all = [...byIndex].sort((a, b) => a[0] - b[0]).map(([index, order]) => ({ index, order }));
  return { blocks: all.slice(0, max), truncated: all.length > max };
}
