/**
 * Who counts the kernel events a scenario causes. The scenarios and their ground truth do not depend
 * on it: an observer turns the guest's activity into counts per phase (the phase ids the workload
 * announces with prctl, see workloads/daxwl.c), and the comparison is the same whoever observed.
 * Observers: an in-guest bpftrace script (observer-bpftrace.ts) and daxmon itself, `daxmon record`
 * with either backend (observer-daxmon.ts).
 */

/** Counter name → count, for one phase. */
export type Counts = Record<string, number>;
/** Phase id (scenario base + step) → counts. */
export type PhaseCounts = Map<number, Counts>;

export interface ObserverOutput {
  counts: PhaseCounts;
  /** Counter → the kernel symbol or tracepoint it was attached to on this kernel. */
  attached: Record<string, string>;
  /** Counters this kernel has no hook for. */
  unavailable: string[];
  /**
   * Counters this observer never produces on any kernel, with the reason: the comparison reports
   * every expectation it therefore could not check (`Comparison.notCovered`) instead of failing or
   * skipping it silently.
   */
  notObserved?: Record<string, string>;
  /** Anything the observer wants reported (it was killed, it printed errors). */
  notes: string[];
}

export interface Observer {
  readonly name: string;
  /** Guest shell run before the first scenario; returns once events are being counted. */
  startShell(): string;
  /** Guest shell run after the last scenario; must leave no process behind (kill timeout). */
  stopShell(): string;
  /** Reads what the observer left in the results folder. */
  collect(resultsDir: string): Promise<ObserverOutput>;
}

/** The prctl options daxwl uses: the observer keys counts by the phase, and dumps on request. */
export const PHASE_PRCTL = 0x44415830;
export const DUMP_PRCTL = 0x44415831;
