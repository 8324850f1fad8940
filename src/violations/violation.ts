/**
 * The violation record: everything a kernel developer needs to start debugging without daxmon
 * running — what was wrong, on which page, what the model expected, who did it, the kernel stack,
 * and the folio's last events.
 */
import type { MemoryType, RefcountModel } from '../events/types.js';
import type { Severity, ViolationKind } from '../checks/types.js';
import type { HistoryEntry } from '../state/history.js';

export interface Violation {
  /** Unique and increasing across restarts (the journal remembers the last one). */
  id: string;
  kind: ViolationKind;
  severity: Severity;
  invariant: string;
  /** Stream time (CLOCK_MONOTONIC ns) of the observation. */
  t: number;
  /** Wall-clock time daxmon raised it (ISO 8601). */
  time: string;
  message: string;
  pfn: number | null;
  pgmap: { id: string; type: MemoryType; device: string | null } | null;
  order: number | null;
  observed: { refcount?: number; mapcount?: number };
  expected: { refcount?: string; mapcount?: string };
  pid: number;
  comm: string;
  /** Kernel stack symbolized to function names (never raw addresses), innermost first. */
  stack: string[] | null;
  kernel: { release: string; model: RefcountModel };
  /** The folio's latest events, newest first, the triggering one included. */
  recentEvents: HistoryEntry[];
  /** How many times the same kind fired on the same subject (1 = only this time). */
  count: number;
  /** Stream time of the latest repeat. */
  lastT: number;
  /** Stream time the condition ended (a stuck wait that finished), or null while it holds. */
  clearedT: number | null;
  details?: Record<string, unknown>;
}

export type ViolationUpdate = 'new' | 'repeat' | 'cleared';

/** Where violations go. The journal comes first: nothing is acknowledged before it is durable. */
export interface ViolationSink {
  violation(v: Violation, update: ViolationUpdate): void;
}
