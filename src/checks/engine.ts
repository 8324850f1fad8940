/**
 * Runs the checks over the event stream: dispatches each event to the checks that inspect its
 * type, turns findings into violation records, counts repeats instead of re-reporting them, and
 * knows which checks are active given the probes that attached.
 */
import type { DaxEvent, EventType, RefcountModel } from '../events/types.js';
import { isFolioEvent } from '../events/types.js';
import type { HistoryEntry } from '../state/history.js';
import type { DaxState } from '../state/state.js';
import type { Violation, ViolationSink } from '../violations/violation.js';
import {
  DEFAULT_CHECK_CONFIG,
  type Candidate,
  type ConfirmedKind,
  type Check,
  type CheckConfig,
  type CheckContext,
  type Finding,
  type ProbeSet,
  type ViolationKind,
} from './types.js';

export interface CheckActivity {
  kind: ViolationKind;
  invariant: string;
  title: string;
  active: boolean;
  /** Which probes make it active, or what is missing. */
  reason: string;
  violations: number;
  repeats: number;
  suppressed: number;
  /** Inactive checks: each probe it lacks, and why that probe is missing on this kernel. */
  missing?: { probe: string; why: string }[];
  /** V11 only: FOLL_LONGTERM pins the kernel refused on FS DAX (the healthy outcome it watches). */
  refused?: number;
}

export interface EngineOptions {
  checks: Check[];
  state: DaxState;
  kernelRelease: string;
  sink: ViolationSink;
  config?: Partial<CheckConfig>;
  /**
   * With no probe status known (a hand-written or old recording), treat every check as active.
   * Live runs leave this off: no attached probe means no active check.
   */
  assumeProbesWhenUnknown?: boolean;
  /** Stable ids across restarts: the next sequence number (the journal supplies it). */
  firstId?: number;
  /** Where ids come from instead (the journal reserves them on disk before handing them out). */
  ids?: () => number;
  /** New violations of one kind per minute of stream time before the rest are only counted. */
  maxNewPerKindPerMinute?: number;
  /** Distinct subjects remembered for repeat counting (oldest forgotten first). */
  maxDedupeKeys?: number;
  /** Wall clock, injectable for tests. */
  now?: () => Date;
  /** Checks whose findings wait for the kernel's confirmation (CheckContext.confirms). */
  confirms?: readonly ConfirmedKind[];
}

const RECENT_EVENTS = 8;

/**
 * Sources that are not probes of a backend and report themselves only once they have worked: the
 * struct-page scanner declares the `scan` probe when its first scan completes (scan/service.ts).
 */
const NOT_YET_REPORTED: ReadonlyMap<string, string> = new Map([
  [
    'scan',
    'no struct-page scan has completed yet (daxmon run --scan-interval-seconds N, as root, with bpf/build/daxmon-scan built; docs/scan.md)',
  ],
]);

interface Activeness {
  active: boolean;
  reason: string;
  missing?: { probe: string; why: string }[];
}

export class CheckEngine {
  readonly config: CheckConfig;
  private readonly checks: Check[];
  private readonly state: DaxState;
  private readonly model: RefcountModel;
  private readonly sink: ViolationSink;
  private readonly release: string;
  private readonly inspectBy = new Map<EventType, number[]>();
  private readonly afterBy = new Map<EventType, number[]>();
  /** active[i] for checks[i]: 1 active, 0 inactive, 2 not yet computed (probe status changed). */
  private readonly active: Uint8Array;
  private readonly open = new Map<string, Violation>();
  private readonly stats = new Map<
    ViolationKind,
    { violations: number; repeats: number; suppressed: number }
  >();
  private readonly window = new Map<ViolationKind, { start: number; n: number }>();
  private readonly assume: boolean;
  private readonly maxPerMinute: number;
  private readonly maxKeys: number;
  private readonly wall: () => Date;
  private activeCache: Map<ViolationKind, Activeness> | null = null;
  private nextId: number;
  private readonly ids: (() => number) | null;
  private current: DaxEvent | null = null;
  /** Candidates proposed since the pipeline last took them (confirm before you accuse). */
  readonly candidates: Candidate[] = [];
  private readonly confirmsKinds = new Set<ConfirmedKind>();
  private readonly ctx: CheckContext;

  constructor(opts: EngineOptions) {
    this.checks = opts.checks;
    this.state = opts.state;
    this.model = opts.state.model;
    this.sink = opts.sink;
    this.release = opts.kernelRelease;
    this.config = { ...DEFAULT_CHECK_CONFIG, ...opts.config };
    this.assume = opts.assumeProbesWhenUnknown ?? false;
    this.nextId = opts.firstId ?? 1;
    this.ids = opts.ids ?? null;
    this.maxPerMinute = opts.maxNewPerKindPerMinute ?? 1000;
    this.maxKeys = opts.maxDedupeKeys ?? 100_000;
    this.wall = opts.now ?? (() => new Date());
    this.active = new Uint8Array(this.checks.length).fill(2);
    this.checks.forEach((c, i) => {
      this.stats.set(c.kind, { violations: 0, repeats: 0, suppressed: 0 });
      for (const t of c.events) {
        if (c.inspect) push(this.inspectBy, t, i);
        if (c.after) push(this.afterBy, t, i);
      }
    });
    for (const k of opts.confirms ?? []) this.confirmsKinds.add(k);
    this.ctx = {
      state: this.state,
      model: this.model,
      config: this.config,
      confirms: (kind) => this.confirmsKinds.has(kind),
      propose: (c) => void this.candidates.push(c),
      report: (f) => this.report(f),
      clear: (key, t) => this.clear(key, t),
    };
  }

  /** Before the state applies `e`: checks that compare the event with what was believed. */
  inspect(e: DaxEvent): void {
    if (e.type === 'probe_status') {
      this.activeCache = null;
      this.active.fill(2);
    }
    const list = this.inspectBy.get(e.type);
    if (list === undefined) return;
    this.current = e;
    for (let k = 0; k < list.length; k++) {
      const i = list[k]!;
      if (this.isActive(i)) this.checks[i]!.inspect!(e, this.ctx);
    }
    this.current = null;
  }

  /** After the state applied `e`. */
  after(e: DaxEvent): void {
    const list = this.afterBy.get(e.type);
    if (list === undefined) return;
    for (let k = 0; k < list.length; k++) {
      const i = list[k]!;
      if (this.isActive(i)) this.checks[i]!.after!(e, this.ctx);
    }
  }

  /** Time-based checks; `now` is stream time (ns). */
  tick(now: number): void {
    this.checks.forEach((c, i) => {
      if (c.tick && this.isActive(i)) c.tick(now, this.ctx);
    });
  }

  /** Could a tick now do anything? (The daemon records a clock tick only then.) */
  pending(): boolean {
    for (let i = 0; i < this.checks.length; i++) {
      const c = this.checks[i]!;
      if (c.tick && this.isActive(i) && (c.pending?.(this.ctx) ?? true)) return true;
    }
    return false;
  }

  /** From now on findings of `kind` wait for a confirmation (a confirmer was connected). */
  enableConfirmation(kind: ConfirmedKind): void {
    this.confirmsKinds.add(kind);
  }

  /** The checks whose findings wait for a confirmation (the recording's header says so). */
  get confirms(): ConfirmedKind[] {
    return [...this.confirmsKinds];
  }

  activity(): CheckActivity[] {
    return this.checks.map((c) => {
      const a = this.activeOf(c);
      const s = this.stats.get(c.kind)!;
      return {
        kind: c.kind,
        invariant: c.invariant,
        title: c.title,
        active: a.active,
        reason: a.reason,
        ...(a.missing ? { missing: a.missing } : {}),
        ...s,
        ...(c.kind === 'longterm_pin_on_fsdax' ? { refused: this.state.gupLongtermRefused } : {}),
      };
    });
  }

  /** The id the next new violation gets (persisted by the journal). */
  get nextSequence(): number {
    return this.nextId;
  }

  private isActive(i: number): boolean {
    let a = this.active[i]!;
    if (a === 2) {
      a = this.activeOf(this.checks[i]!).active ? 1 : 0;
      this.active[i] = a;
    }
    return a === 1;
  }

  private activeOf(c: Check): Activeness {
    if (this.activeCache === null) this.activeCache = new Map();
    let a = this.activeCache.get(c.kind);
    if (a) return a;
    const sets = c.requires(this.model);
    const attached = new Set<string>();
    for (const p of this.state.probes.values()) if (p.attached) attached.add(p.probe);
    if (sets.length === 0) a = { active: true, reason: 'needs no probe' };
    else if (this.state.probes.size === 0 && this.assume) {
      a = {
        active: true,
        reason: 'probe status not recorded in this stream; assuming the hooks were present',
      };
    } else {
      const ok = sets.find((s) => s.every((p) => attached.has(p)));
      if (ok) a = { active: true, reason: `probes attached: ${ok.join(', ')}` };
      else {
        const missing = this.missingProbes(sets, attached);
        a = {
          active: false,
          reason: `needs ${sets.map((s) => s.join(' + ')).join(' or ')} (${this.model} model); not attached on this host: ${missing.map((m) => `${m.probe}: ${m.why}`).join('; ')}`,
          missing,
        };
      }
    }
    this.activeCache.set(c.kind, a);
    return a;
  }

  /** Why each probe of the alternatives is missing, from the backends' own probe_status details. */
  private missingProbes(sets: readonly ProbeSet[], attached: Set<string>): { probe: string; why: string }[] {
    const names = [...new Set(sets.flat())].filter((p) => !attached.has(p));
    return names.map((probe) => {
      const seen = [...this.state.probes.values()].filter((p) => p.probe === probe);
      const why =
        seen.length === 0
          ? (NOT_YET_REPORTED.get(probe) ?? 'no running backend provides this probe')
          : seen.map((p) => `${p.backend}: ${p.detail}`).join('; ');
      return { probe, why };
    });
  }

  private report(f: Finding): void {
    const stats = this.stats.get(f.kind)!;
    const existing = this.open.get(f.dedupeKey);
    if (existing) {
      existing.count++;
      existing.lastT = f.t;
      stats.repeats++;
      this.sink.violation(existing, 'repeat');
      return;
    }
    const w = this.window.get(f.kind) ?? { start: f.t, n: 0 };
    if (f.t - w.start >= 60e9) {
      w.start = f.t;
      w.n = 0;
    }
    if (w.n >= this.maxPerMinute) {
      stats.suppressed++;
      this.window.set(f.kind, w);
      return;
    }
    w.n++;
    this.window.set(f.kind, w);
    const v = this.build(f);
    if (this.open.size >= this.maxKeys) {
      const oldest = this.open.keys().next().value;
      if (oldest !== undefined) this.open.delete(oldest);
    }
    this.open.set(f.dedupeKey, v);
    stats.violations++;
    this.sink.violation(v, 'new');
  }

  private clear(key: string, t: number): void {
    const v = this.open.get(key);
    if (!v || v.clearedT !== null) return;
    v.clearedT = t;
    this.sink.violation(v, 'cleared');
  }

  private build(f: Finding): Violation {
    const check = this.checks.find((c) => c.kind === f.kind)!;
    const p = f.pgmapIdx !== undefined ? this.state.pgmaps.byIdx(f.pgmapIdx) : undefined;
    let recent: HistoryEntry[] = [];
    if (f.pfn !== null) {
      const row = this.state.folios.find(f.pfn);
      if (row >= 0) recent = this.state.history.recent(f.pfn, this.state.folios.lastSeq[row]!, RECENT_EVENTS);
      const e = this.current;
      if (e && isFolioEvent(e) && e.pfn === f.pfn) {
        recent = [
          {
            type: e.type,
            t: e.t,
            pid: e.pid,
            comm: e.comm,
            refcount: 'refcount' in e ? e.refcount : (f.observed.refcount ?? 0),
            mapcount: 'mapcount' in e ? e.mapcount : (f.observed.mapcount ?? 0),
          },
          ...recent.slice(0, RECENT_EVENTS - 1),
        ];
      }
    }
    return {
      id: `v${this.ids ? this.ids() : this.nextId++}`,
      kind: f.kind,
      severity: f.severity,
      invariant: check.invariant,
      t: f.t,
      time: this.wall().toISOString(),
      message: f.message,
      pfn: f.pfn,
      pgmap: p ? { id: p.id, type: p.type, device: p.device } : null,
      order: f.order ?? null,
      observed: f.observed,
      expected: f.expected,
      pid: f.pid,
      comm: f.comm,
      stack: f.stack ?? null,
      kernel: { release: this.release, model: this.model },
      recentEvents: recent,
      count: 1,
      lastT: f.t,
      clearedT: null,
      ...(f.details ? { details: f.details } : {}),
    };
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const l = m.get(k);
  if (l) l.push(v);
  else m.set(k, [v]);
}
