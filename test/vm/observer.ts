/**
 * Who counts the kernel events a scenario causes. The scenarios and their ground truth do not depend
 * on it: an observer turns the guest's activity into counts per phase (the phase ids the workload
 * announces with prctl, see workloads/daxwl.c), and the comparison is the same whoever observed.
 * Today the observer is an in-guest bpftrace script; daxmon itself (`daxmon record`) will be another.
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
