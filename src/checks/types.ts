/**
 * The check framework's vocabulary. A check is a pure function of (state, event) or (state, now)
 * that reports `Finding`s; the engine (engine.ts) turns findings into violation records, dedupes
 * repeats and decides which checks are active on this kernel.
 */
import type { DaxEvent, EventType, MemoryType, RefcountModel } from '../events/types.js';
import type { DaxState } from '../state/state.js';
import type { ProbeName } from '../probes/catalogue.js';

export const VIOLATION_KINDS = [
  'map_zero_ref',
  'refcount_underflow',
  'free_while_mapped',
  'entry_removed_while_busy',
  'teardown_with_live_folios',
  'idle_refcount_mismatch',
  'compound_pgmap_mismatch',
  'busy_wait_stuck',
  'page_free_missing',
  'devmap_in_new_model',
  'longterm_pin_on_fsdax',
] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export type Severity = 'warning' | 'error';

export interface CheckConfig {
  /** V6: how long an unmapped, unpinned folio may sit above (or below) its idle refcount. */
  idleMismatchSeconds: number;
  /** V5: how long after memunmap_pages the pgmap's ref may stay unreleased before a warning. */
  teardownReleaseWarnSeconds: number;
  /** V8: a busy-page wait older than this is a warning. */
  busyWaitWarnSeconds: number;
  /** V8: … and older than this a violation (min(60 s, hung_task_timeout_secs/2) by default). */
  busyWaitStuckSeconds: number;
}

export const DEFAULT_CHECK_CONFIG: CheckConfig = {
  idleMismatchSeconds: 30,
  teardownReleaseWarnSeconds: 10,
  busyWaitWarnSeconds: 10,
  busyWaitStuckSeconds: 60,
};

/** What a check saw. The engine adds identity, kernel, pgmap details and the folio's history. */
export interface Finding {
  kind: ViolationKind;
  severity: Severity;
  /** Stream time (ns) of the observation. */
  t: number;
  message: string;
  pfn: number | null;
  /** Registry index of the pgmap concerned, when known. */
  pgmapIdx?: number;
  order?: number;
  observed: { refcount?: number; mapcount?: number };
  expected: { refcount?: string; mapcount?: string };
  pid: number;
  comm: string;
  stack?: string[] | undefined;
  /** Repeats with the same key are counted on the first record instead of reported again. */
  dedupeKey: string;
  details?: Record<string, unknown>;
}

/**
 * A finding that needs the kernel's word before it is raised (confirm before you accuse,
 * docs/violations.md): the engine hands it to the pipeline's confirmer, whose answer comes back
 * as an event (`wait_confirmation`, `folio_confirmation`), recorded like any other, so a replay
 * decides as the live run did.
 */
export type Candidate = WaitCandidate | FolioCandidate;

/** busy_wait_stuck: is the task still asleep in the layout-break wait? (/proc, synchronous) */
export interface WaitCandidate {
  kind: 'busy_wait_stuck';
  severity: Severity;
  /** Stream time of the tick that found it. */
  t: number;
  pid: number;
  tid: number;
  beginT: number;
  fn: string;
}

/** idle_refcount_mismatch: does the kernel's struct page agree? (the scanner, asynchronous) */
export interface FolioCandidate {
  kind: 'idle_refcount_mismatch';
  /** Stream time of the tick that found it. */
  t: number;
  /** The folio's head and its pages (1 << order). */
  pfn: number;
  nrPages: number;
  /** The refcount daxmon held, and the state's gap generation, when it proposed: the kernel's
   * reading confirms only the same value with no gap in between. */
  refcount: number;
  gapGen: number;
}

/** Checks whose findings can wait for a confirmation. */
export type ConfirmedKind = Candidate['kind'];
export const CONFIRMED_KINDS: readonly ConfirmedKind[] = ['busy_wait_stuck', 'idle_refcount_mismatch'];

export interface CheckContext {
  readonly state: DaxState;
  readonly model: RefcountModel;
  readonly config: CheckConfig;
  /**
   * Whether findings of `kind` wait for a confirmation (the live daemon with that confirmer, and
   * replays of its recordings); false for streams with none (hand-written, older recordings,
   * a daemon without the scanner): then they are judged without it.
   */
  confirms(kind: ConfirmedKind): boolean;
  /** Ask the confirmer about a candidate (only when `confirm`). */
  propose(c: Candidate): void;
  report(f: Finding): void;
  /** Close an earlier finding (a stuck wait that finally ended). */
  clear(dedupeKey: string, t: number): void;
}

/**
 * A set of probes (src/probes/catalogue.ts) that must all be attached; a check lists alternatives.
 * Typed by the catalogue: a misspelt probe would leave the check inactive forever, so it must not
 * compile.
 */
export type ProbeSet = readonly ProbeName[];

export interface Check {
  readonly kind: ViolationKind;
  readonly invariant: string;
  readonly title: string;
  /** Event types passed to inspect() (before the state applies them) and after() (after). */
  readonly events: readonly EventType[];
  /** Alternative probe sets that make the check meaningful under this model; [] = always active. */
  requires(model: RefcountModel): readonly ProbeSet[];
  inspect?(e: DaxEvent, ctx: CheckContext): void;
  after?(e: DaxEvent, ctx: CheckContext): void;
  tick?(now: number, ctx: CheckContext): void;
  /**
   * Whether tick() could do anything now (a deadline is pending). The daemon records a clock tick
   * only when some check has one, so recordings stay small; without it the check is always pending.
   */
  pending?(ctx: CheckContext): boolean;
}

/** Types whose folios daxmon checks against the model. */
export function isDaxType(t: MemoryType | null): t is 'fs_dax' | 'generic' {
  return t === 'fs_dax' || t === 'generic';
}
