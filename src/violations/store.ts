/**
 * Violations kept in memory for the API: the journal's history plus everything raised since, the
 * newest `capacity` of them. Queries filter and paginate without copying the whole list.
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

export class ViolationStore {
  private readonly list: Violation[] = [];
  private readonly byId = new Map<string, Violation>();
  dropped = 0;

  constructor(private readonly capacity = 10_000) {}

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
    }
  }
}

function idNumber(id: string): number {
  const n = Number(id.replace(/^v/, ''));
  return Number.isFinite(n) ? n : Number.POSITIVE_INFINITY;
}
