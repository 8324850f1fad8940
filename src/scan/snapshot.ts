/**
 * The last scan's reading of every page of a pgmap, kept for /api/pgmaps/:id/pages. Columns of
 * typed arrays, 14 bytes a page (a 1 GiB pgmap: 3.5 MiB; 10M pages: 140 MB), no object per page.
 */
import { FOLIO_STATES, type FolioState } from '../state/folio-store.js';
import type { PfnRange } from '../events/types.js';
import { SCAN_FAULT, SCAN_HEAD, SCAN_TAIL, type PageBatch } from './frames.js';
import { truthState } from './truth.js';
import type { MemoryType, RefcountModel } from '../events/types.js';

export const SNAPSHOT_BYTES_PER_PAGE = 4 + 4 + 4 + 1 + 1;
const HAS_MAPPING = 8;
const SCANNED = 16;

export interface PageTruth {
  pfn: number;
  /** null: not scanned yet, or the struct page could not be read */
  state: FolioState | 'tail' | null;
  refcount: number | null;
  mapcount: number | null;
  pincount: number | null;
  order: number | null;
  /** For a tail: the pfn of its folio's head (the nearest head below it). */
  headPfn: number | null;
  /** folio->mapping is set: a DAX entry owns the page. */
  entry: boolean | null;
}

export class PgmapSnapshot {
  readonly nrPages: number;
  private readonly refcount: Int32Array;
  private readonly mapcount: Int32Array;
  private readonly pincount: Int32Array;
  private readonly order: Uint8Array;
  private readonly status: Uint8Array;
  /**
   * Distinct values of word 1 (the pgmap pointer) over the non-tail pages of the last scan, at most
   * 8 kept: 1 means every page of the range belongs to one pgmap, the proof that a discovered
   * range is the kernel's. The values themselves are kernel addresses and never leave the daemon.
   */
  readonly pgmapWords = new Set<bigint>();
  /** Unix ms of the last completed scan; null before the first. */
  completedAt: number | null = null;

  constructor(
    readonly ranges: readonly PfnRange[],
    readonly type: MemoryType,
    readonly model: RefcountModel,
  ) {
    this.nrPages = ranges.reduce((n, r) => n + r.nrPages, 0);
    this.refcount = new Int32Array(this.nrPages);
    this.mapcount = new Int32Array(this.nrPages);
    this.pincount = new Int32Array(this.nrPages);
    this.order = new Uint8Array(this.nrPages);
    this.status = new Uint8Array(this.nrPages);
  }

  /** Page index of a pfn in this pgmap, -1 outside it. */
  indexOf(pfn: number): number {
    let base = 0;
    for (const r of this.ranges) {
      if (pfn >= r.pfn && pfn < r.pfn + r.nrPages) return base + (pfn - r.pfn);
      base += r.nrPages;
    }
    return -1;
  }

  pfnAt(index: number): number {
    let base = 0;
    for (const r of this.ranges) {
      if (index < base + r.nrPages) return r.pfn + (index - base);
      base += r.nrPages;
    }
    return -1;
  }

  store(batch: PageBatch): void {
    for (let i = 0; i < batch.nr; i++) {
      const k = this.indexOf(batch.startPfn + i);
      if (k < 0) continue;
      const st = batch.status(i);
      if (!(st & (SCAN_TAIL | SCAN_FAULT)) && this.pgmapWords.size < 8) this.pgmapWords.add(batch.info(i));
      this.status[k] = st | SCANNED | (batch.hasMapping(i) ? HAS_MAPPING : 0);
      this.refcount[k] = batch.refcount(i);
      this.mapcount[k] = batch.mapcount(i);
      this.pincount[k] = st & SCAN_HEAD ? batch.pincount(i) : 0;
      this.order[k] = st & SCAN_HEAD ? batch.order(i) : 0;
    }
  }

  /** `count` pages from page index `from` (bounded by the caller). */
  pages(from: number, count: number): PageTruth[] {
    const out: PageTruth[] = [];
    const end = Math.min(this.nrPages, from + count);
    for (let k = from; k < end; k++) out.push(this.page(k));
    return out;
  }

  /**
   * Every page's state code at the last scan (FOLIO_STATES index; a tail takes its head's code),
   * `unknown` where the page was not read, and the compound heads (order > 0) by page index: what
   * the live view's map is drawn from (src/server/view/page-map.ts). O(pages); the caller caches
   * it per completed scan.
   */
  stateCodes(unknown: number): { codes: Uint8Array; heads: { index: number; order: number }[] } {
    const codes = new Uint8Array(this.nrPages);
    const heads: { index: number; order: number }[] = [];
    let headCode = unknown;
    for (let k = 0; k < this.nrPages; k++) {
      const st = this.status[k]!;
      if (!(st & SCANNED) || st & SCAN_FAULT) {
        codes[k] = unknown;
        if (!(st & SCAN_TAIL)) headCode = unknown;
        continue;
      }
      if (st & SCAN_TAIL) {
        codes[k] = headCode;
        continue;
      }
      const c = {
        refcount: this.refcount[k]!,
        mapcount: this.mapcount[k]!,
        pincount: this.pincount[k]!,
        order: this.order[k]!,
      };
      headCode = truthState(c, this.type, this.model);
      codes[k] = headCode;
      if (c.order > 0) heads.push({ index: k, order: c.order });
    }
    return { codes, heads };
  }

  private page(k: number): PageTruth {
    const pfn = this.pfnAt(k);
    const st = this.status[k]!;
    if (!(st & SCANNED) || st & SCAN_FAULT)
      return {
        pfn,
        state: null,
        refcount: null,
        mapcount: null,
        pincount: null,
        order: null,
        headPfn: null,
        entry: null,
      };
    const c = {
      refcount: this.refcount[k]!,
      mapcount: this.mapcount[k]!,
      pincount: this.pincount[k]!,
      order: this.order[k]!,
    };
    let headPfn: number | null = null;
    if (st & SCAN_TAIL) {
      // compound folios are naturally aligned: the head is the nearest head page below
      for (let h = k - 1; h >= 0 && k - h < 1 << 18; h--) {
        if (this.status[h]! & SCAN_HEAD) {
          headPfn = this.pfnAt(h);
          break;
        }
      }
    }
    return {
      pfn,
      state: st & SCAN_TAIL ? 'tail' : FOLIO_STATES[truthState(c, this.type, this.model)]!,
      ...c,
      headPfn,
      entry: (st & HAS_MAPPING) !== 0,
    };
  }
}
