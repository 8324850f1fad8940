/**
 * Every dev_pagemap daxmon knows: its pfn ranges, type, device and where it is in its lifecycle
 * (memremap_pages → memunmap_pages → pgmap->ref released → done). Few at a time (one per pmem
 * namespace or device-dax instance), so plain objects; pfn lookup is a binary search over a
 * sorted table of the live ranges with a one-entry cache, because consecutive events hit the
 * same pgmap.
 */
import type { MemoryType, PfnRange, PgmapRegistered } from '../events/types.js';
import { FOLIO_STATES } from './folio-store.js';
import { RangeTable, type RangeEntry } from './range-table.js';

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

/** Slots for pgmaps at once (the per-folio column is a Uint16 and 0xffff is NO_PGMAP). */
export const MAX_PGMAPS = 0xfffe;
/** Released pgmaps still listed (/api/pgmaps, replay's summary): the latest this many. */
export const GONE_KEPT = 64;

/**
 * The registry has to hold on hosts where namespaces are created and destroyed all day (ndctl's
 * own tests do), for weeks: so what it holds is bounded by the pgmaps that exist, never by the
 * ones that ever did. A pgmap's slot (`idx`, what a folio row stores) is recycled once the pgmap is
 * released: torn down and nothing refers to its slot any more (DaxState drops its folios first;
 * waits and checks hold pfns and public ids, never a slot). Public ids (`pm<n>`) are never reused,
 * so a violation's pgmap stays unambiguous. Registration costs a binary search of the live ranges
 * plus an insertion into them: nothing in it walks the pgmaps that came and went.
 */
export class PgmapRegistry {
  /** Listed pgmaps in registration order: every unreleased one and the latest GONE_KEPT released. */
  private readonly list: Pgmap[] = [];
  private readonly bySlot: (Pgmap | undefined)[] = [];
  private readonly freeSlots: number[] = [];
  private readonly byKey = new Map<string, Pgmap>();
  private readonly byPublicId = new Map<string, Pgmap>();
  /** Live ranges; they never overlap (register retires what a new one overlaps). */
  private readonly table = new RangeTable();
  private last: RangeEntry | null = null;
  private nextSerial = 0;
  private live = 0;
  private releasedListed = 0;
  /** Listed pgmaps visited by release(): with the range table's, the cost, for tests. */
  private listVisited = 0;

  /** Range entries and listed pgmaps visited by register/retire/release: the work, for tests. */
  get visited(): number {
    return this.table.visited + this.listVisited;
  }

  get all(): readonly Pgmap[] {
    return this.list;
  }

  /** Pgmaps not yet torn down. */
  get liveCount(): number {
    return this.live;
  }

  /** Slots in use, released ones excluded (bounded by the pgmaps that exist). */
  get slotsInUse(): number {
    return this.bySlot.length - this.freeSlots.length;
  }

  /** Slots ever allocated: the high-water mark of pgmaps existing at once. */
  get slotCapacity(): number {
    return this.bySlot.length;
  }

  byIdx(idx: number): Pgmap | undefined {
    return this.bySlot[idx];
  }

  get(key: string): Pgmap | undefined {
    return this.byKey.get(key);
  }

  byId(id: string): Pgmap | undefined {
    return this.byPublicId.get(id);
  }

  /**
   * Register a pgmap. A registration for a key already live replaces nothing and returns the
   * existing one (a backend restart re-reports what it finds); a pgmap whose ranges overlap a live
   * one retires the old one (the kernel cannot hold both: it must have been torn down unseen).
   * The caller drops the retired pgmaps' folios, then release()s them.
   */
  register(e: PgmapRegistered): { pgmap: Pgmap; retired: Pgmap[] } {
    const existing = this.byKey.get(e.pgmap);
    if (existing && existing.phase !== 'gone') {
      existing.announcements++;
      return { pgmap: existing, retired: [] };
    }
    const retired: Pgmap[] = [];
    for (const r of e.ranges) {
      for (const p of this.overlapping(r.pfn, r.pfn + r.nrPages)) {
        // A discovered pgmap seen again through the hook: same memory, now with its kernel key.
        if (p.source === 'discovered' && sameRanges(p.ranges, e.ranges) && p.type === e.pgmapType) {
          this.byKey.delete(p.key);
          p.key = e.pgmap;
          this.byKey.set(p.key, p);
          if (e.device && !p.device) p.device = e.device;
          p.announcements++;
          return { pgmap: p, retired };
        }
        this.retire(p);
        retired.push(p);
      }
    }
    const idx = this.allocSlot();
    const serial = this.nextSerial++;
    const p: Pgmap = {
      idx,
      id: `pm${serial}`,
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
    this.bySlot[idx] = p;
    this.list.push(p);
    this.byKey.set(p.key, p);
    this.byPublicId.set(p.id, p);
    this.live++;
    for (const r of p.ranges) this.table.insert({ start: r.pfn, end: r.pfn + r.nrPages, idx });
    this.last = null;
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
    const found = this.lookup(range.pfn);
    if (!found || found.source !== 'discovered' || !found.ranges.some((r) => r.pfn === range.pfn))
      return undefined;
    this.byKey.delete(found.key);
    found.key = key;
    this.byKey.set(key, found);
    return found;
  }

  /** The pgmap (not gone) whose ranges contain pfn. */
  lookup(pfn: number): Pgmap | undefined {
    const last = this.last;
    if (last !== null && pfn >= last.start && pfn < last.end) return this.bySlot[last.idx];
    const e = this.table.find(pfn);
    if (e === undefined) return undefined;
    this.last = e;
    return this.bySlot[e.idx];
  }

  /** Mark gone and drop its ranges from lookup (its slot stays taken until release()). */
  retire(p: Pgmap): void {
    if (p.phase === 'gone') return;
    p.phase = 'gone';
    this.live--;
    for (const r of p.ranges) this.table.remove(r.pfn, p.idx);
    this.last = null;
  }

  /**
   * Free the slot of a retired pgmap nothing refers to any more (the caller dropped its folios),
   * so a later registration reuses it. It stays listed, as gone, among the latest GONE_KEPT.
   */
  release(p: Pgmap): void {
    if (p.phase !== 'gone' || this.bySlot[p.idx] !== p) return;
    if (p.tracked !== 0) throw new Error(`pgmap ${p.id} released with ${p.tracked} tracked folios`);
    this.bySlot[p.idx] = undefined;
    this.freeSlots.push(p.idx);
    if (this.byKey.get(p.key) === p) this.byKey.delete(p.key);
    this.releasedListed++;
    while (this.releasedListed > GONE_KEPT) this.unlistOldestReleased();
  }

  private unlistOldestReleased(): void {
    for (let i = 0; i < this.list.length; i++) {
      this.listVisited++;
      const q = this.list[i]!;
      if (q.phase === 'gone' && this.bySlot[q.idx] !== q) {
        this.list.splice(i, 1);
        this.byPublicId.delete(q.id);
        this.releasedListed--;
        return;
      }
    }
  }

  private allocSlot(): number {
    const free = this.freeSlots.pop();
    if (free !== undefined) return free;
    if (this.bySlot.length >= MAX_PGMAPS)
      throw new Error(`more than ${MAX_PGMAPS} pgmaps registered and not torn down`);
    this.bySlot.push(undefined);
    return this.bySlot.length - 1;
  }

  /** The live pgmaps with a range overlapping [start, end). */
  private overlapping(start: number, end: number): Pgmap[] {
    const out: Pgmap[] = [];
    for (const e of this.table.overlapping(start, end)) {
      const p = this.bySlot[e.idx]!;
      if (!out.includes(p)) out.push(p);
    }
    return out;
  }
}

function sameRanges(a: readonly PfnRange[], b: readonly PfnRange[]): boolean {
  return a.length === b.length && a.every((r, i) => r.pfn === b[i]!.pfn && r.nrPages === b[i]!.nrPages);
}
