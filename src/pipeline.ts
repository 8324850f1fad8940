/**
 * The one path every event takes, live or replayed:
 *   checks.inspect(e) → state.apply(e) → checks.after(e) → observers (metrics, recorder)
 * and time-based checks on the stream clock. Synchronous and allocation-free per event, so the
 * intake keeps up with the kernel; anything slow (HTTP, disk) lives behind a sink.
 */
import { CheckEngine, type EngineOptions } from './checks/engine.js';
import { allChecks } from './checks/registry.js';
import type { CheckConfig } from './checks/types.js';
import type { DaxEvent, RefcountModel } from './events/types.js';
import { DaxState, type StateObserver } from './state/state.js';
import type { ViolationSink } from './violations/violation.js';

export interface EventObserver {
  (e: DaxEvent): void;
}

/** Time-based checks run when the stream clock has advanced this far since the last run. */
export const TICK_INTERVAL_NS = 1e9;

export class Pipeline {
  private readonly observers: EventObserver[] = [];
  private lastTick = 0;

  constructor(
    readonly state: DaxState,
    readonly engine: CheckEngine,
  ) {}

  observe(o: EventObserver): void {
    this.observers.push(o);
  }

  ingest(e: DaxEvent): void {
    // Time passed up to this event with the state unchanged: judge that first, so a wait that
    // ends with this event is seen as having lasted until now (replay has no timer between events).
    if (e.t - this.lastTick >= TICK_INTERVAL_NS) this.tick(e.t);
    this.engine.inspect(e);
    this.state.apply(e);
    this.engine.after(e);
    for (let i = 0; i < this.observers.length; i++) this.observers[i]!(e);
  }

  /** Run the time-based checks at stream time `now` (ns). */
  tick(now: number): void {
    if (now < this.lastTick) return;
    this.lastTick = now;
    this.engine.tick(now);
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
    ...(o.violationIds ? { ids: o.violationIds } : {}),
    ...o.engine,
  });
  return new Pipeline(state, engine);
}
