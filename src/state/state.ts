/**
 * daxmon's model of the kernel: pgmaps, tracked folios, DAX entries, open waits. `apply(event)` is
 * the state machine; it does no I/O and reads no clock, so a recorded stream replays to exactly
 * the state the live run had.
 *
 * What the state believes about a folio comes from readings the probes took at each event (the
 * kernel's inline gets and puts are invisible, docs/kernel-model.md §7). Where the kernel's next step is
 * certain, the state infers it: in the new model every page-table mapping holds one reference,
 * dropped right after its rmap removal, so after `folio_unmap` the refcount is the reading minus
 * the pages unmapped. Inferences are flagged (FLAG.INFERRED) and the next reading replaces them.
 */
import {
  EVENT_TYPES,
  assertNever,
  type BackendName,
  type DaxEvent,
  type EventType,
  type FolioEvent,
  type MemoryType,
  type RefcountModel,
} from '../events/types.js';
import { FLAG, FOLIO_STATES, FolioStore, NO_PGMAP, STATE_CODE } from './folio-store.js';
import { FolioHistory } from './history.js';
import { InodeTable } from './inodes.js';
import { PgmapRegistry, type Pgmap } from './pgmaps.js';
import { classify, faultSucceeded, idleRefcount, pinRefs } from './refcount-model.js';
import { missScope } from './miss-scope.js';
import { WaitTable, MAX_BUSY_PFNS_PER_WAIT, type OpenWait } from './waits.js';

export interface StateObserver {
  waitClosed?(w: OpenWait, endT: number): void;
  teardownDone?(p: Pgmap, seconds: number | null): void;
}

export interface StateOptions {
  model: RefcountModel;
  /** Entries in the per-folio history ring. */
  historyCapacity?: number;
  /** Tracked folios at most; beyond it idle folios without a DAX entry are evicted. */
  maxFolios?: number;
  observer?: StateObserver;
}

/** Counts of folios per state, for folios whose pfn is in no known pgmap. */
export interface Bucket {
  readonly stateCounts: Int32Array;
  uncertain: number;
  tracked: number;
}

export const LOST_REASONS = ['buffer', 'recursion_miss'] as const;
export type LostReason = (typeof LOST_REASONS)[number];

export interface ProgramStats {
  backend: BackendName;
  probe: string;
  program: string;
  runs: number | null;
  misses: number;
}

export interface ProbeState {
  backend: BackendName;
  probe: string;
  attached: boolean;
  detail: string;
}

const TYPE_INDEX = new Map<EventType, number>(EVENT_TYPES.map((t, i) => [t, i]));
const NS_PER_DECISECOND = 1e8;
const DEFAULT_MAX_FOLIOS = 32 * 1024 * 1024;

export class DaxState {
  readonly folios = new FolioStore();
  readonly pgmaps = new PgmapRegistry();
  readonly inodes = new InodeTable();
  readonly history: FolioHistory;
  readonly waits = new WaitTable();
  readonly unassigned: Bucket = {
    stateCounts: new Int32Array(FOLIO_STATES.length),
    uncertain: 0,
    tracked: 0,
  };
  readonly model: RefcountModel;
  readonly maxFolios: number;
  observer: StateObserver | undefined;

  /** Bumped at every gap (lost events, backend stop): rows older than this are uncertain. */
  gapGen = 0;
  /** Stream clock: the latest event time seen (ns). */
  lastT = 0;
  readonly eventsByType = new Float64Array(EVENT_TYPES.length);
  eventsTotal = 0;
  readonly lostByBackend = new Map<BackendName, number>();
  /** Lost events by `backend:reason` (buffer: ring/perf buffer overflow; recursion_miss: skipped runs). */
  readonly lostByReason = new Map<string, number>();
  /** Skipped runs per `backend:probe` (docs/kernel-model.md §11). */
  readonly missesByProbe = new Map<string, { backend: BackendName; probe: string; missed: number }>();
  /** The kernel's latest run/miss totals per `backend:program`. */
  readonly programStats = new Map<string, ProgramStats>();
  readonly probes = new Map<string, ProbeState>();
  readonly backendsUp = new Map<BackendName, boolean>();
  gupLongtermRefused = 0;
  /** Answers of the folio confirmer (folio_confirmation events), by outcome. */
  readonly folioConfirmations = { confirmed: 0, resynced: 0, unread: 0 };
  /** Folios dropped to stay under maxFolios, and folio events not tracked because nothing could be. */
  evicted = 0;
  untracked = 0;
  /** Folio events whose pfn lies in no known pgmap. */
  outsidePgmap = 0;
  private evictCursor = 0;

  constructor(opts: StateOptions) {
    this.model = opts.model;
    this.history = new FolioHistory(opts.historyCapacity);
    this.maxFolios = opts.maxFolios ?? DEFAULT_MAX_FOLIOS;
    this.observer = opts.observer;
  }

  // ---- queries used by checks, metrics and the API --------------------------------------------

  typeOf(row: number): MemoryType | null {
    const idx = this.folios.pgmap[row]!;
    return idx === NO_PGMAP ? null : (this.pgmaps.byIdx(idx)?.type ?? null);
  }

  pgmapOf(row: number): Pgmap | undefined {
    const idx = this.folios.pgmap[row]!;
    return idx === NO_PGMAP ? undefined : this.pgmaps.byIdx(idx);
  }

  /** Idle refcount of the folio in `row` (FS DAX's when its pgmap is unknown). */
  idleOf(row: number): number {
    return idleRefcount(this.typeOf(row) ?? 'fs_dax', this.model);
  }

  isUncertain(row: number): boolean {
    return this.folios.gapGen[row] !== this.gapGen;
  }

  eventCount(type: EventType): number {
    return this.eventsByType[TYPE_INDEX.get(type)!]!;
  }

  bucketOf(row: number): Bucket {
    return this.pgmapOf(row) ?? this.unassigned;
  }

  // ---- the state machine ------------------------------------------------------------------------

  apply(e: DaxEvent): void {
    this.eventsTotal++;
    this.eventsByType[TYPE_INDEX.get(e.type)!]!++;
    if (e.t > this.lastT) this.lastT = e.t;
    switch (e.type) {
      case 'pgmap_registered': {
        const { pgmap, retired } = this.pgmaps.register(e);
        for (const p of retired) {
          this.dropFoliosOf(p);
          this.pgmaps.release(p);
        }
        // Folios seen before their pgmap was known move into it.
        if (this.unassigned.tracked > 0) this.adoptUnassigned();
        void pgmap;
        return;
      }
      case 'pgmap_teardown_begin': {
        const p = this.pgmaps.resolve(e.pgmap, e.range);
        if (p && p.phase === 'live') {
          p.phase = 'tearing_down';
          p.teardownBeginT = e.t;
        }
        return;
      }
      case 'pgmap_ref_released': {
        const p = this.pgmaps.resolve(e.pgmap);
        if (p && p.phase !== 'gone') {
          p.phase = 'ref_released';
          p.refReleasedT = e.t;
        }
        return;
      }
      case 'pgmap_teardown_done': {
        const p = this.pgmaps.resolve(e.pgmap);
        if (p && p.phase !== 'gone') {
          p.teardownDoneT = e.t;
          const seconds = p.teardownBeginT === null ? null : (e.t - p.teardownBeginT) / 1e9;
          this.dropFoliosOf(p);
          this.pgmaps.retire(p);
          this.observer?.teardownDone?.(p, seconds);
          // No row refers to its slot now (waits and checks hold pfns, never slots): reuse it.
          this.pgmaps.release(p);
        }
        return;
      }
      case 'dax_fault':
        return;
      case 'dax_entry_insert': {
        if (e.zero || e.empty) return; // placeholder entries have no pmem page behind them
        const row = this.touch(e);
        if (row < 0) return;
        const f = this.folios;
        f.inode[row] = this.inodes.intern(e.dev, e.ino);
        f.index[row] = e.index > 0xffffffff ? 0xffffffff : e.index;
        f.order[row] = e.order;
        let flags = (f.flags[row]! | FLAG.ENTRY) & ~FLAG.FREED & ~FLAG.DEVMAP_MAPPED;
        flags = e.shared ? flags | FLAG.SHARED : flags & ~FLAG.SHARED;
        f.flags[row] = flags;
        if (this.folios.created) this.folios.refcount[row] = this.idleOf(row);
        this.settle(row, e, false);
        return;
      }
      case 'dax_entry_remove': {
        const row = this.touch(e);
        if (row < 0) return;
        const f = this.folios;
        f.inode[row] = 0;
        f.index[row] = 0;
        // e.index may be null (unknown): the entry is gone either way.
        f.flags[row] = f.flags[row]! & ~(FLAG.ENTRY | FLAG.SHARED | FLAG.DEVMAP_MAPPED);
        this.observe(row, e.refcount, e.mapcount);
        this.settle(row, e, true);
        return;
      }
      case 'folio_map': {
        const row = this.touch(e);
        if (row < 0) return;
        const f = this.folios;
        if (e.order > 0) f.order[row] = e.order;
        if (faultSucceeded(e.ret)) {
          f.flags[row] = f.flags[row]! & ~FLAG.FREED;
          // Old model: devmap PTEs/PMDs keep no mapcount; remember the mapping ourselves.
          if (this.model === 'old') f.flags[row] = f.flags[row]! | FLAG.DEVMAP_MAPPED;
        }
        this.observe(row, e.refcount, e.mapcount);
        this.settle(row, e, true);
        return;
      }
      case 'folio_unmap': {
        const row = this.touch(e);
        if (row < 0) return;
        const f = this.folios;
        // Counts were read before the rmap removal; the mapping's reference is put right after
        // (zap_present_folio_ptes → tlb batch → folios_put_refs), so infer both.
        f.refcount[row] = e.refcount - e.nr;
        f.mapcount[row] = Math.max(0, e.mapcount - e.nr);
        f.flags[row] = f.flags[row]! | FLAG.INFERRED;
        // The kernel read a mapping of it: whatever free daxmon saw, it was mapped again since
        // (its map may have been a skipped run, issue 11): a later free is not a second free.
        if (e.mapcount > 0) f.flags[row] = f.flags[row]! & ~FLAG.FREED;
        this.settle(row, e, true);
        return;
      }
      case 'gup': {
        const row = this.touch(e);
        if (row < 0) return;
        const f = this.folios;
        if (e.result >= 0) {
          const units = e.op === 'pin' || e.op === 'unpin' ? pinRefs(f.order[row]!, e.refs) : e.refs;
          if (e.op === 'get' || e.op === 'pin') {
            f.gupRefs[row] = f.gupRefs[row]! + units;
            f.flags[row] = f.flags[row]! & ~FLAG.FREED;
          } else {
            f.gupRefs[row] = Math.max(0, f.gupRefs[row]! - units);
          }
        }
        this.observe(row, e.refcount, f.mapcount[row]!);
        this.settle(row, e, true);
        return;
      }
      case 'gup_longterm_refused':
        this.gupLongtermRefused++;
        return;
      case 'folio_put': {
        const row = this.touch(e);
        if (row < 0) return;
        const f = this.folios;
        f.refcount[row] = e.refcount - e.refs;
        f.gupRefs[row] = Math.max(0, f.gupRefs[row]! - e.refs);
        f.flags[row] = f.flags[row]! & ~FLAG.INFERRED;
        this.reconcileGup(row);
        this.settle(row, e, true);
        return;
      }
      case 'folio_idle': {
        const row = this.touch(e);
        if (row < 0) return;
        this.observe(row, e.refcount, this.folios.mapcount[row]!);
        this.settle(row, e, true);
        return;
      }
      case 'zone_device_free': {
        const row = this.touch(e);
        if (row < 0) return;
        const f = this.folios;
        f.refcount[row] = e.refcount;
        f.mapcount[row] = e.mapcount;
        f.gupRefs[row] = 0;
        f.flags[row] = (f.flags[row]! | FLAG.FREED) & ~FLAG.INFERRED & ~FLAG.DEVMAP_MAPPED;
        this.settle(row, e, true);
        return;
      }
      case 'busy_page_found': {
        const row = this.touch(e);
        if (row >= 0) {
          this.observe(row, e.refcount, e.mapcount);
          this.settle(row, e, true);
        }
        const w = this.waits.forBusyPage(e.pid, e.dev, e.ino);
        if (w) {
          w.busyCount++;
          if (!w.busyPfns.includes(e.pfn)) {
            if (w.busyPfns.length >= MAX_BUSY_PFNS_PER_WAIT) w.busyPfns.shift();
            w.busyPfns.push(e.pfn);
          }
        }
        return;
      }
      case 'layout_break_begin':
        this.waits.open({
          tid: e.tid,
          pid: e.pid,
          comm: e.comm,
          dev: e.dev,
          ino: e.ino,
          fn: e.fn,
          uninterruptible: e.uninterruptible,
          beginT: e.t,
          busyPfns: [],
          busyCount: 0,
          stack: e.stack,
          uncertain: false,
        });
        return;
      case 'layout_break_end': {
        const w = this.waits.close(e.tid, e.dev, e.ino);
        if (w) this.observer?.waitClosed?.(w, e.t);
        return;
      }
      case 'wait_confirmation':
        this.waits.confirmations[e.outcome]++;
        if (e.outcome === 'resynced') this.waits.resync(e.tid, e.beginT, e.taskAlive);
        return;
      case 'clock_tick':
        return;
      case 'folio_confirmation':
        // The kernel's readings came just before as refcount_sample events and were applied then.
        this.folioConfirmations[e.outcome]++;
        return;
      case 'refcount_sample': {
        if (e.tail) return; // tails carry no refcount of their own (must be 0): V7 looks at them
        const row = this.touch(e);
        if (row < 0) return;
        if (e.order > 0) this.folios.order[row] = e.order;
        this.observe(row, e.refcount, e.mapcount);
        this.settle(row, e, true);
        return;
      }
      case 'backend_started':
        this.backendsUp.set(e.backend, true);
        return;
      case 'backend_stopped':
        this.backendsUp.set(e.backend, false);
        this.markGap();
        return;
      case 'events_lost':
        this.addLost(e.backend, 'buffer', e.count);
        this.markGap();
        return;
      case 'probe_missed': {
        const key = `${e.backend}:${e.probe}`;
        const m = this.missesByProbe.get(key) ?? { backend: e.backend, probe: e.probe, missed: 0 };
        m.missed += e.missed;
        this.missesByProbe.set(key, m);
        this.programStats.set(`${e.backend}:${e.program}`, {
          backend: e.backend,
          probe: e.probe,
          program: e.program,
          runs: e.runs,
          misses: e.misses,
        });
        if (e.missed === 0) return;
        this.addLost(e.backend, 'recursion_miss', e.missed);
        // docs/kernel-model.md §11: a skipped run is a gap in the state its probe feeds.
        const scope = missScope(e.probe);
        if (scope === 'folios') this.markGap();
        else if (scope === 'waits') this.waits.markAllUncertain();
        return;
      }
      case 'probe_status':
        this.probes.set(`${e.backend}:${e.probe}`, {
          backend: e.backend,
          probe: e.probe,
          attached: e.attached,
          detail: e.detail,
        });
        return;
      default:
        assertNever(e);
    }
  }

  private addLost(backend: BackendName, reason: LostReason, n: number): void {
    this.lostByBackend.set(backend, (this.lostByBackend.get(backend) ?? 0) + n);
    const key = `${backend}:${reason}`;
    this.lostByReason.set(key, (this.lostByReason.get(key) ?? 0) + n);
  }

  /**
   * A gap in the stream: what daxmon believes about every folio and wait may be stale. O(pgmaps):
   * rows compare their generation with gapGen when read.
   */
  markGap(): void {
    this.gapGen = (this.gapGen + 1) >>> 0;
    for (const p of this.pgmaps.all) p.uncertain = p.tracked;
    this.unassigned.uncertain = this.unassigned.tracked;
    this.waits.markAllUncertain();
  }

  // ---- internals ----------------------------------------------------------------------------

  /** Find or create the row for a folio event and record the event in its history; -1 if full. */
  private touch(e: FolioEvent): number {
    const f = this.folios;
    let row = f.find(e.pfn);
    if (row < 0) {
      if (f.size >= this.maxFolios && !this.evictOne()) {
        this.untracked++;
        return -1;
      }
      row = f.upsert(e.pfn);
      const p = this.pgmaps.lookup(e.pfn);
      if (p) f.pgmap[row] = p.idx;
      else this.outsidePgmap++;
      f.gapGen[row] = this.gapGen;
      f.since[row] = (e.t / NS_PER_DECISECOND) >>> 0;
      const b = this.bucketOf(row);
      b.tracked++;
      b.stateCounts[STATE_CODE.idle]!++;
      f.created = true;
    } else {
      f.created = false;
      if (f.pgmap[row] === NO_PGMAP) this.outsidePgmap++;
    }
    const refcount = 'refcount' in e ? e.refcount : f.refcount[row]!;
    const mapcount = 'mapcount' in e ? e.mapcount : f.mapcount[row]!;
    f.lastSeq[row] = this.history.add(e.pfn, f.lastSeq[row]!, e.type, e.t, e.pid, e.comm, refcount, mapcount);
    return row;
  }

  /** A direct reading of the folio's counts. */
  private observe(row: number, refcount: number, mapcount: number): void {
    const f = this.folios;
    f.refcount[row] = refcount;
    if (this.model === 'new' || mapcount > 0) f.mapcount[row] = mapcount;
    f.flags[row] = f.flags[row]! & ~FLAG.INFERRED;
    this.reconcileGup(row);
  }

  /**
   * GUP references daxmon counted cannot exceed what the refcount leaves room for; and an order-0
   * reading with the pin bias in it (GUP_PIN_COUNTING_BIAS) proves pins daxmon may not have seen
   * (before start-up, in a gap): a scan then shows the folio pinned, as the kernel would.
   */
  private reconcileGup(row: number): void {
    const f = this.folios;
    const room =
      f.refcount[row]! - this.idleOf(row) - (this.model === 'new' ? Math.max(0, f.mapcount[row]!) : 0);
    if (f.gupRefs[row]! > room) f.gupRefs[row] = Math.max(0, room);
    if (f.order[row] === 0 && room >= 1024)
      f.gupRefs[row] = Math.max(f.gupRefs[row]!, Math.floor(room / 1024) * 1024);
  }

  /** Recompute the row's lifecycle state and keep the per-pgmap counters exact. */
  private settle(row: number, e: FolioEvent, reading: boolean): void {
    const f = this.folios;
    const b = this.bucketOf(row);
    // Only a struct-page scan re-certifies a row a gap made uncertain (docs/kernel-model.md §11):
    // an event's reading says nothing about the events the gap lost (a missed map before a free,
    // a missed insert before an unmap), and the lifecycle flags rest on those.
    if (reading && e.type === 'refcount_sample' && f.gapGen[row] !== this.gapGen) {
      f.gapGen[row] = this.gapGen;
      if (b.uncertain > 0) b.uncertain--;
    }
    const flags = f.flags[row]!;
    const next = classify(
      f.refcount[row]!,
      f.mapcount[row]!,
      f.gupRefs[row]!,
      (flags & FLAG.FREED) !== 0,
      (flags & FLAG.DEVMAP_MAPPED) !== 0,
      this.idleOf(row),
    );
    const prev = f.state[row]!;
    if (next !== prev) {
      b.stateCounts[prev]!--;
      b.stateCounts[next]!++;
      f.state[row] = next;
      f.since[row] = (e.t / NS_PER_DECISECOND) >>> 0;
    }
  }

  private dropFoliosOf(p: Pgmap): void {
    const f = this.folios;
    const doomed: number[] = [];
    for (let r = 0; r < f.size; r++) if (f.pgmap[r] === p.idx) doomed.push(f.pfn[r]!);
    for (const pfn of doomed) f.remove(pfn);
    p.stateCounts.fill(0);
    p.tracked = 0;
    p.uncertain = 0;
  }

  private adoptUnassigned(): void {
    const f = this.folios;
    const u = this.unassigned;
    for (let r = 0; r < f.size; r++) {
      if (f.pgmap[r] !== NO_PGMAP) continue;
      const p = this.pgmaps.lookup(f.pfn[r]!);
      if (!p) continue;
      const s = f.state[r]!;
      const uncertain = f.gapGen[r] !== this.gapGen;
      u.stateCounts[s]!--;
      u.tracked--;
      if (uncertain) u.uncertain--;
      f.pgmap[r] = p.idx;
      p.stateCounts[s]!++;
      p.tracked++;
      if (uncertain) p.uncertain++;
    }
  }

  /** Drop one idle/free folio without a DAX entry, scanning from a rotating cursor. */
  private evictOne(): boolean {
    const f = this.folios;
    const n = f.size;
    for (let k = 0; k < Math.min(n, 4096); k++) {
      const r = (this.evictCursor + k) % n;
      const s = f.state[r]!;
      if ((s === STATE_CODE.idle || s === STATE_CODE.free) && (f.flags[r]! & FLAG.ENTRY) === 0) {
        const b = this.bucketOf(r);
        b.stateCounts[s]!--;
        b.tracked--;
        if (f.gapGen[r] !== this.gapGen && b.uncertain > 0) b.uncertain--;
        f.remove(f.pfn[r]!);
        this.evictCursor = r;
        this.evicted++;
        return true;
      }
    }
    this.evictCursor = (this.evictCursor + 4096) % Math.max(1, n);
    return false;
  }
}
