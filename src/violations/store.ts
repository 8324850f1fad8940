/**
 * Violations kept in memory for the API: the journal's history plus everything raised since, the
 * newest `capacity` of them (`--retain-violations`). Queries filter and paginate without copying
 * the whole list. What falls outside that window is counted, so the API can say how many older
 * violations exist (in the journal files, or rotated out of them) instead of a bare 404.
 */
import type { ViolationKind } from '../checks/types.js';
import type { Violation, ViolationUpdate } from './violation.js';

export interface ViolationQuery {
  kind?: ViolationKind | undefined;
  severity?: 'warning' | 'error' | undefined;
  pgmap?: string | undefined;
  /** Wall-clock bounds (ISO 8601, inclusive). */
  since?: string | undefined;
  until?: string | undefined;
  /** Return violations older than this id (pagination cursor, newest first). */
  before?: string | undefined;
  limit: number;
}

export interface ViolationPage {
  items: Violation[];
  /** Pass as `before` to get the next page; null when this is the last page. */
  next: string | null;
  total: number;
}

/** What the store holds against what exists. */
export interface ViolationWindow {
  /** Violations the API serves (at most the capacity). */
  retained: number;
  /** Violations older than the oldest retained one: no longer served (journal files or rotated out). */
  olderOutsideWindow: number;
  /** Journal records found damaged at start-up (their violations are not served). */
  damagedRecords: number;
}

export const DEFAULT_RETAIN_VIOLATIONS = 10_000;

export class ViolationStore {
  private readonly list: Violation[] = [];
  private readonly byId = new Map<string, Violation>();
  /** Dropped from this store to stay within the capacity. */
  dropped = 0;
  /** Older violations that never reached this store (rotated out of the journal files). */
  rotatedOut = 0;
  damagedRecords = 0;
  /** The highest id number dropped: ids up to it and below the window were served once. */
  private droppedUpTo = 0;

  constructor(private readonly capacity = DEFAULT_RETAIN_VIOLATIONS) {}

  window(): ViolationWindow {
    return {
      retained: this.list.length,
      olderOutsideWindow: this.rotatedOut + this.dropped,
      damagedRecords: this.damagedRecords,
    };
  }

  /**
   * Whether an id not in the store is older than the window (rotated out), as opposed to one that
   * never existed: below the oldest retained id, with older violations known to exist.
   */
  isOlderThanWindow(id: string): boolean {
    const n = idNumber(id);
    if (!Number.isFinite(n) || this.window().olderOutsideWindow === 0) return false;
    const oldest = this.list[0];
    return oldest ? n < idNumber(oldest.id) : n <= this.droppedUpTo;
  }

  /** The oldest id served, or null. */
  get oldestId(): string | null {
    return this.list[0]?.id ?? null;
  }

  get size(): number {
    return this.list.length;
  }

  load(vs: readonly Violation[]): void {
    for (const v of vs) this.add(v);
  }

  update(v: Violation, u: ViolationUpdate): void {
    if (u === 'new') this.add(v);
    // repeats and clears mutate the shared record in place
  }

  get(id: string): Violation | undefined {
    return this.byId.get(id);
  }

  query(q: ViolationQuery): ViolationPage {
    const items: Violation[] = [];
    let total = 0;
    let next: string | null = null;
    let start = this.list.length - 1;
    if (q.before !== undefined) {
      const b = idNumber(q.before);
      while (start >= 0 && idNumber(this.list[start]!.id) >= b) start--;
    }
    for (let i = start; i >= 0; i--) {
      const v = this.list[i]!;
      if (q.kind && v.kind !== q.kind) continue;
      if (q.severity && v.severity !== q.severity) continue;
      if (q.pgmap && v.pgmap?.id !== q.pgmap) continue;
      if (q.since && v.time < q.since) continue;
      if (q.until && v.time > q.until) continue;
      total++;
      if (items.length < q.limit) items.push(v);
      else if (next === null) next = items[items.length - 1]!.id;
    }
    return { items, next, total };
  }

  private add(v: Violation): void {
    if (this.byId.has(v.id)) return;
    this.list.push(v);
    this.byId.set(v.id, v);
    if (this.list.length > this.capacity) {
      const old = this.list.shift()!;
      this.byId.delete(old.id);
      this.dropped++;
      this.droppedUpTo = Math.max(this.droppedUpTo, idNumber(old.id));
    }
  }
}

function idNumber(id: string): number {
  const n = Number(id.replace(/^v/, ''));
  return Number.isFinite(n) ? n : Number.POSITIVE_INFINITY;
}
