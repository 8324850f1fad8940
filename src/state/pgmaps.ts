/**
 * Every dev_pagemap daxmon knows: its pfn ranges, type, device and where it is in its lifecycle
 * (memremap_pages → memunmap_pages → pgmap->ref released → done). Few in number (one per pmem
 * namespace or device-dax instance), so plain objects; pfn lookup is a binary search over a
 * sorted range table with a one-entry cache, because consecutive events hit the same pgmap.
 */
import type { MemoryType, PfnRange, PgmapRegistered } from '../events/types.js';
import { FOLIO_STATES } from './folio-store.js';

export type PgmapPhase = 'live' | 'tearing_down' | 'ref_released' | 'gone';

export interface Pgmap {
  /** Index in the registry; stored per folio (Uint16). */
  readonly idx: number;
  /** Public id (`pm0`, `pm1`, …): safe to show anywhere, unlike the kernel address in `key`. */
  readonly id: string;
  key: string;
  readonly type: MemoryType;
  readonly ranges: readonly PfnRange[];
  readonly vmemmapShift: number;
  readonly hasPageFree: boolean;
  readonly altmap: boolean;
  device: string | null;
  readonly source: 'hook' | 'discovered';
  phase: PgmapPhase;
  registeredT: number;
  teardownBeginT: number | null;
  refReleasedT: number | null;
  teardownDoneT: number | null;
  /** Tracked folios per FolioState code, maintained by DaxState. */
  readonly stateCounts: Int32Array;
  /** Tracked folios not updated since the last gap. */
  uncertain: number;
  /** Total tracked folios. */
  tracked: number;
  /**
   * `pgmap_registered` events that named this pgmap: one per source that learnt it (daxmon's
   * sysfs walk at start-up, the probes' first sight of one of its folios, the memremap_pages hook,
   * a backend restart re-reporting it). Summed over every pgmap, gone ones included, it is
   * daxmon_events_total{type="pgmap_registered"}.
   */
  announcements: number;
}

interface RangeEntry {
  start: number;
  end: number; // exclusive
  idx: number;
}

export const MAX_PGMAPS = 0xfffe;

export class PgmapRegistry {
  private readonly list: Pgmap[] = [];
  private readonly byKey = new Map<string, Pgmap>();
  private table: RangeEntry[] = [];
  private last: RangeEntry | null = null;

  get all(): readonly Pgmap[] {
    return this.list;
  }

  /** Pgmaps not yet torn down. */
  get liveCount(): number {
    let n = 0;
    for (const p of this.list) if (p.phase !== 'gone') n++;
    return n;
  }

  byIdx(idx: number): Pgmap | undefined {
    return this.list[idx];
  }

  get(key: string): Pgmap | undefined {
    return this.byKey.get(key);
  }

  byId(id: string): Pgmap | undefined {
    return this.list.find((p) => p.id === id);
  }

  /**
   * Register a pgmap. A registration for a key already live replaces nothing and returns the
   * existing one (a backend restart re-reports what it finds); a pgmap whose ranges overlap a live
   * one retires the old one (the kernel cannot hold both: it must have been torn down unseen).
   */
  register(e: PgmapRegistered): { pgmap: Pgmap; retired: Pgmap[] } {
    const existing = this.byKey.get(e.pgmap);
    if (existing && existing.phase !== 'gone') {
      existing.announcements++;
      return { pgmap: existing, retired: [] };
    }
    const retired: Pgmap[] = [];
    for (const r of e.ranges) {
      for (const p of this.list) {
        if (p.phase === 'gone') continue;
        if (p.ranges.some((q) => q.pfn < r.pfn + r.nrPages && r.pfn < q.pfn + q.nrPages)) {
          // A discovered pgmap seen again through the hook: same memory, now with its kernel key.
          if (p.source === 'discovered' && sameRanges(p.ranges, e.ranges) && p.type === e.pgmapType) {
            this.byKey.delete(p.key);
            p.key = e.pgmap;
            this.byKey.set(p.key, p);
            if (e.device && !p.device) p.device = e.device;
            p.announcements++;
            return { pgmap: p, retired: [] };
          }
          p.phase = 'gone';
          retired.push(p);
        }
      }
    }
    if (this.list.length >= MAX_PGMAPS) throw new Error(`more than ${MAX_PGMAPS} pgmaps registered`);
    const idx = this.list.length;
    const p: Pgmap = {
      idx,
      id: `pm${idx}`,
      key: e.pgmap,
      type: e.pgmapType,
      ranges: e.ranges.map((r) => ({ pfn: r.pfn, nrPages: r.nrPages })),
      vmemmapShift: e.vmemmapShift,
      hasPageFree: e.hasPageFree,
      altmap: e.altmap,
      device: e.device ?? null,
      source: e.source,
      phase: 'live',
      registeredT: e.t,
      teardownBeginT: null,
      refReleasedT: null,
      teardownDoneT: null,
      stateCounts: new Int32Array(FOLIO_STATES.length),
      uncertain: 0,
      tracked: 0,
      announcements: 1,
    };
    this.list.push(p);
    this.byKey.set(p.key, p);
    this.rebuildTable();
    return { pgmap: p, retired };
  }

  /**
   * Find the pgmap a lifecycle event names. An unknown key with a range matching a pgmap
   * discovered at start-up adopts that pgmap (the kernel's key is only learnt at teardown).
   */
  resolve(key: string, range?: PfnRange): Pgmap | undefined {
    const p = this.byKey.get(key);
    if (p) return p;
    if (!range) return undefined;
    const found = this.list.find(
      (q) => q.phase !== 'gone' && q.source === 'discovered' && q.ranges.some((r) => r.pfn === range.pfn),
    );
    if (!found) return undefined;
    this.byKey.delete(found.key);
    found.key = key;
    this.byKey.set(key, found);
    return found;
  }

  /** The pgmap (not gone) whose ranges contain pfn. */
  lookup(pfn: number): Pgmap | undefined {
    const last = this.last;
    if (last !== null && pfn >= last.start && pfn < last.end) return this.list[last.idx];
    const t = this.table;
    let lo = 0;
    let hi = t.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const e = t[mid]!;
      if (pfn < e.start) hi = mid - 1;
      else if (pfn >= e.end) lo = mid + 1;
      else {
        this.last = e;
        return this.list[e.idx];
      }
    }
    return undefined;
  }

  /** Mark gone and drop its ranges from lookup. */
  retire(p: Pgmap): void {
    p.phase = 'gone';
    this.rebuildTable();
  }

  private rebuildTable(): void {
    const t: RangeEntry[] = [];
    for (const p of this.list) {
      if (p.phase === 'gone') continue;
      for (const r of p.ranges) t.push({ start: r.pfn, end: r.pfn + r.nrPages, idx: p.idx });
    }
    t.sort((a, b) => a.start - b.start);
    this.table = t;
    this.last = null;
  }
}

function sameRanges(a: readonly PfnRange[], b: readonly PfnRange[]): boolean {
  return a.length === b.length && a.every((r, i) => r.pfn === b[i]!.pfn && r.nrPages === b[i]!.nrPages);
}
