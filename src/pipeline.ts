/**
 * The one path every event takes, live or replayed:
 *   checks.inspect(e) → state.apply(e) → checks.after(e) → observers (metrics, recorder)
 * and time-based checks on the stream clock. Synchronous and allocation-free per event, so the
 * intake keeps up with the kernel; anything slow (HTTP, disk) lives behind a sink.
 *
 * Replay equals live (docs/events.md): everything a check consumes arrives as an event. The
 * time-based checks run when the stream clock passes a second since their last run, and when a
 * `clock_tick` event says so: the daemon's wall-clock timer ingests one (so the recorder keeps
 * it) only when a check has a deadline pending. Candidates that need the kernel's confirmation go
 * to a confirmer, if there is one: the daemon's wait confirmer reads /proc and its answer is
 * ingested as a `wait_confirmation` event right after the event or tick that proposed it; the
 * folio confirmer asks the struct-page scanner and ingests the readings and a
 * `folio_confirmation` when the scanner answers. A replay has no confirmer and reads the recorded
 * answers at the same places.
 */
import { CheckEngine, type EngineOptions } from './checks/engine.js';
import { allChecks } from './checks/registry.js';
import type { CheckConfig, ConfirmedKind, FolioCandidate, WaitCandidate } from './checks/types.js';
import type { DaxEvent, RefcountModel, WaitConfirmation } from './events/types.js';
import { DaxState, type StateObserver } from './state/state.js';
import type { ViolationSink } from './violations/violation.js';

export interface EventObserver {
  (e: DaxEvent): void;
}

/** Time-based checks run when the stream clock has advanced this far since the last run. */
export const TICK_INTERVAL_NS = 1e9;

/** The I/O edge that asks the kernel about a wait candidate (src/daemon/wait-confirmer.ts). */
export type Confirmer = (c: WaitCandidate) => WaitConfirmation;
/**
 * The I/O edge that asks the kernel about a folio candidate (src/daemon/folio-confirmer.ts): it
 * answers later, by ingesting the kernel's readings and a `folio_confirmation`, always once.
 */
export type FolioConfirmer = (c: FolioCandidate) => void;

export class Pipeline {
  private readonly observers: EventObserver[] = [];
  private lastTick = 0;
  private confirmer: Confirmer | null = null;
  private folioConfirmer: FolioConfirmer | null = null;

  constructor(
    readonly state: DaxState,
    readonly engine: CheckEngine,
  ) {}

  observe(o: EventObserver): void {
    this.observers.push(o);
  }

  /**
   * Wait candidates are answered by `c` (the live daemon); from now on busy_wait_stuck waits for
   * the answers. Without a confirmer a replay waits for recorded answers (PipelineOptions.confirms).
   */
  confirmWith(c: Confirmer): void {
    this.confirmer = c;
    this.engine.enableConfirmation('busy_wait_stuck');
  }

  /** Folio candidates are answered by `c` (the live daemon with a scanner), from now on. */
  confirmFoliosWith(c: FolioConfirmer): void {
    this.folioConfirmer = c;
    this.engine.enableConfirmation('idle_refcount_mismatch');
  }

  ingest(e: DaxEvent): void {
    // Time passed up to this event with the state unchanged: judge that first, so a wait that
    // ends with this event is seen as having lasted until now (replay has no timer between events).
    if (e.type === 'clock_tick' || e.t - this.lastTick >= TICK_INTERVAL_NS) this.runTick(e.t);
    this.engine.inspect(e);
    this.state.apply(e);
    this.engine.after(e);
    for (let i = 0; i < this.observers.length; i++) this.observers[i]!(e);
    if (this.engine.candidates.length > 0) this.confirmCandidates();
  }

  /**
   * The daemon's wall clock at `now` (ns): a clock_tick goes through the pipeline (and so into
   * the recording) when a check has a deadline pending and a second passed since the last tick.
   * Nothing pending: a tick would change nothing, and none is recorded.
   */
  clock(now: number): void {
    if (now - this.lastTick < TICK_INTERVAL_NS || !this.engine.pending()) return;
    this.ingest({ type: 'clock_tick', t: now, pid: 0, comm: 'daxmon' });
  }

  /**
   * Run the time-based checks at stream time `now` (ns): replay's last tick, and tests. Live, the
   * daemon uses clock(), which records the tick.
   */
  tick(now: number): void {
    this.runTick(now);
    if (this.engine.candidates.length > 0) this.confirmCandidates();
  }

  private runTick(now: number): void {
    // A second tick at the same instant changes nothing (replay's last tick after a recorded one).
    if (now <= this.lastTick) return;
    this.lastTick = now;
    this.engine.tick(now);
  }

  /** Each candidate's answer goes through the pipeline like any event (a replay has it recorded). */
  private confirmCandidates(): void {
    const list = this.engine.candidates.splice(0);
    for (const c of list) {
      if (c.kind === 'busy_wait_stuck') {
        if (this.confirmer) this.ingest(this.confirmer(c));
      } else if (this.folioConfirmer) this.folioConfirmer(c);
    }
  }
}

export interface PipelineOptions {
  model: RefcountModel;
  kernelRelease: string;
  sink: ViolationSink;
  checkConfig?: Partial<CheckConfig>;
  assumeProbesWhenUnknown?: boolean;
  firstViolationId?: number;
  /** Where new violation ids come from (the journal, which reserves them on disk first). */
  violationIds?: () => number;
  stateObserver?: StateObserver;
  historyCapacity?: number;
  maxFolios?: number;
  engine?: Partial<EngineOptions>;
  /** Checks whose findings wait for the kernel's confirmation (live; replays of live recordings). */
  confirms?: readonly ConfirmedKind[];
}

/** Build the live pipeline; replay and tests build exactly the same one. */
export function buildPipeline(o: PipelineOptions): Pipeline {
  const state = new DaxState({
    model: o.model,
    ...(o.historyCapacity !== undefined ? { historyCapacity: o.historyCapacity } : {}),
    ...(o.maxFolios !== undefined ? { maxFolios: o.maxFolios } : {}),
    ...(o.stateObserver ? { observer: o.stateObserver } : {}),
  });
  const engine = new CheckEngine({
    checks: allChecks(),
    state,
    kernelRelease: o.kernelRelease,
    sink: o.sink,
    ...(o.checkConfig ? { config: o.checkConfig } : {}),
    assumeProbesWhenUnknown: o.assumeProbesWhenUnknown ?? false,
    ...(o.firstViolationId !== undefined ? { firstId: o.firstViolationId } : {}),
    confirms: o.confirms ?? [],
    ...(o.violationIds ? { ids: o.violationIds } : {}),
    ...o.engine,
  });
  return new Pipeline(state, engine);
}
