/**
 * /api/pgmaps/:id/map: the page-state map of a pgmap for the live view, computed when asked (never
 * on the intake path) and at most once per MAP_MIN_INTERVAL_MS per pgmap: a request inside that
 * interval gets the last answer, so any number of open pages costs intake at most one computation
 * per pgmap per interval. The scan's part (O(pages)) is computed once per completed scan; each
 * recomputation adds only a walk of the tracked folios.
 */
import type { Pgmap } from '../../state/pgmaps.js';
import type { DaxState } from '../../state/state.js';
import type { ScanService } from '../../scan/service.js';
import {
  MAP_STATES,
  UNCERTAIN_CODE,
  UNKNOWN_CODE,
  encodeRuns,
  mergeBlocks,
  overlayTracked,
  pageIndex,
  pagesPerCell,
  scanCounts,
  type Block,
  type TrackedFolios,
} from './page-map.js';

export const MAP_MIN_INTERVAL_MS = 500;
export const DEFAULT_MAP_CELLS = 4096;
export const MAX_MAP_CELLS = 65536;
/** Compound folios outlined at most (a 1 GiB pgmap of 2 MiB folios has 512). */
export const MAX_MAP_BLOCKS = 4096;

export interface PgmapMap {
  pgmap: string;
  type: string;
  phase: string;
  nrPages: number;
  ranges: readonly { pfn: number; nrPages: number }[];
  pagesPerCell: number;
  cells: number;
  states: readonly string[];
  /** `[repeat, ...count per state]` per run of identical cells (page-map.ts encodeRuns). */
  runs: number[][];
  /** Compound folios: first page's pfn and order. */
  blocks: { pfn: number; order: number }[];
  blocksTruncated: boolean;
  tracked: number;
  scannedAt: string | null;
  computedAt: string;
}

interface ScanPart {
  completedAt: number | null;
  ppc: number;
  codes: Uint8Array | null;
  heads: Block[];
  counts: Int32Array;
}

export class MapService {
  private readonly answers = new Map<string, { at: number; cells: number; map: PgmapMap }>();
  private readonly scans = new Map<string, ScanPart>();
  /** Recomputations done (the tests and the bench read it). */
  computed = 0;

  constructor(
    private readonly state: DaxState,
    private readonly scan: ScanService | undefined,
    private readonly nowMs: () => number = Date.now,
  ) {}

  map(p: Pgmap, cells: number): PgmapMap {
    const now = this.nowMs();
    const last = this.answers.get(p.id);
    if (last && last.cells === cells && now - last.at < MAP_MIN_INTERVAL_MS) return last.map;
    this.forgetUnlisted();
    const map = this.compute(p, cells, now);
    this.answers.set(p.id, { at: now, cells, map });
    return map;
  }

  private compute(p: Pgmap, cells: number, now: number): PgmapMap {
    this.computed++;
    const nrPages = p.ranges.reduce((a, r) => a + r.nrPages, 0);
    const ppc = pagesPerCell(nrPages, cells);
    const part = this.scanPart(p, nrPages, ppc);
    const tracked = this.trackedOf(p);
    const counts = overlayTracked(part.counts, nrPages, ppc, part.codes, tracked);
    const { blocks, truncated } = mergeBlocks(part.heads, tracked, MAX_MAP_BLOCKS);
    return {
      pgmap: p.id,
      type: p.type,
      phase: p.phase,
      nrPages,
      ranges: p.ranges,
      pagesPerCell: ppc,
      cells: Math.ceil(nrPages / ppc),
      states: MAP_STATES,
      runs: encodeRuns(counts),
      blocks: blocks.map((b) => ({ pfn: pfnAt(p, b.index), order: b.order })),
      blocksTruncated: truncated,
      tracked: tracked.n,
      scannedAt: part.completedAt === null ? null : new Date(part.completedAt).toISOString(),
      computedAt: new Date(now).toISOString(),
    };
  }

  /** The scan's part of the map, recomputed only when a newer scan completed or the cell size changed. */
  private scanPart(p: Pgmap, nrPages: number, ppc: number): ScanPart {
    const snap = this.scan?.snapshot(p.id);
    const completedAt = snap && snap.ranges === p.ranges ? snap.completedAt : null;
    const have = this.scans.get(p.id);
    if (have && have.completedAt === completedAt && have.ppc === ppc) return have;
    let codes: Uint8Array | null = have && have.completedAt === completedAt ? have.codes : null;
    let heads: Block[] = have && have.completedAt === completedAt ? have.heads : [];
    if (completedAt !== null && !codes) ({ codes, heads } = snap!.stateCodes(UNKNOWN_CODE));
    const part = { completedAt, ppc, codes, heads, counts: scanCounts(nrPages, ppc, codes) };
    this.scans.set(p.id, part);
    return part;
  }

  /** The pgmap's tracked folios, O(tracked rows): no per-page work, no object per folio. */
  private trackedOf(p: Pgmap): TrackedFolios {
    const f = this.state.folios;
    const out: TrackedFolios = {
      n: 0,
      index: new Int32Array(p.tracked),
      order: new Uint8Array(p.tracked),
      code: new Uint8Array(p.tracked),
    };
    const single = p.ranges.length === 1 ? p.ranges[0]! : null;
    for (let r = 0; r < f.size && out.n < p.tracked; r++) {
      if (f.pgmap[r] !== p.idx) continue;
      const pfn = f.pfn[r]!;
      const index = single ? pfn - single.pfn : pageIndex(p.ranges, pfn);
      if (index < 0 || (single && index >= single.nrPages)) continue;
      out.index[out.n] = index;
      out.order[out.n] = f.order[r]!;
      out.code[out.n] = this.state.isUncertain(r) ? UNCERTAIN_CODE : f.state[r]!;
      out.n++;
    }
    return out;
  }

  private forgetUnlisted(): void {
    for (const id of this.answers.keys()) if (!this.state.pgmaps.byId(id)) this.answers.delete(id);
    for (const id of this.scans.keys()) if (!this.state.pgmaps.byId(id)) this.scans.delete(id);
  }
}

function pfnAt(p: Pgmap, index: number): number {
  let base = 0;
  for (const r of p.ranges) {
    if (index < base + r.nrPages) return r.pfn + (index - base);
    base += r.nrPages;
  }
  return -1;
}

/** `?cells=` of the map request: 1..MAX_MAP_CELLS, default DEFAULT_MAP_CELLS; a message when invalid. */
export function parseMapQuery(
  q: Record<string, unknown>,
): { ok: true; cells: number } | { ok: false; message: string } {
  for (const k of Object.keys(q))
    if (k !== 'cells') return { ok: false, message: `unknown parameter "${k}" (use cells)` };
  if (q.cells === undefined) return { ok: true, cells: DEFAULT_MAP_CELLS };
  const n = typeof q.cells === 'string' && /^[0-9]{1,6}$/.test(q.cells) ? Number(q.cells) : NaN;
  if (!(n >= 1 && n <= MAX_MAP_CELLS))
    return {
      ok: false,
      message: `cells must be an integer from 1 to ${MAX_MAP_CELLS}, got "${String(q.cells)}"`,
    };
  return { ok: true, cells: n };
}
