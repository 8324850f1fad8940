/**
 * The last events of every folio, kept in one fixed ring of typed columns. Each entry links to the
 * previous entry of the same folio, so a folio costs one sequence number (FolioStore.lastSeq) and
 * its recent history is a walk back along the links, valid while the ring has not overwritten it.
 * Used to attach "the events that led to it" to a violation without an object per event.
 */
import { EVENT_TYPES, type EventType } from '../events/types.js';

export interface HistoryEntry {
  type: EventType;
  t: number;
  pid: number;
  comm: string;
  refcount: number;
  mapcount: number;
}

const TYPE_CODE = new Map<EventType, number>(EVENT_TYPES.map((t, i) => [t, i]));

export class FolioHistory {
  private readonly cap: number;
  private readonly pfn: Float64Array;
  private readonly t: Float64Array;
  private readonly type: Uint8Array;
  private readonly pid: Uint32Array;
  private readonly comm: Uint16Array;
  private readonly refcount: Int32Array;
  private readonly mapcount: Int32Array;
  private readonly prev: Uint32Array;
  /** The sequence number stored at each slot, to tell a live link from an overwritten one. */
  private readonly seqAt: Uint32Array;
  /** Next sequence number; sequence 0 means "none", so the first entry is 1. */
  private seq = 1;
  private readonly comms: string[] = [''];
  private readonly commIds = new Map<string, number>([['', 0]]);

  constructor(capacity = 1 << 18) {
    this.cap = capacity;
    this.pfn = new Float64Array(capacity);
    this.t = new Float64Array(capacity);
    this.type = new Uint8Array(capacity);
    this.pid = new Uint32Array(capacity);
    this.comm = new Uint16Array(capacity);
    this.refcount = new Int32Array(capacity);
    this.mapcount = new Int32Array(capacity);
    this.prev = new Uint32Array(capacity);
    this.seqAt = new Uint32Array(capacity);
  }

  get bytes(): number {
    return this.cap * (8 + 8 + 1 + 4 + 2 + 4 + 4 + 4 + 4);
  }

  /** Append an entry for `pfn` whose previous entry was `prevSeq`; returns the new sequence. */
  add(
    pfn: number,
    prevSeq: number,
    type: EventType,
    t: number,
    pid: number,
    comm: string,
    refcount: number,
    mapcount: number,
  ): number {
    const s = this.seq;
    this.seq = s === 0xffffffff ? 1 : s + 1;
    const i = s % this.cap;
    this.pfn[i] = pfn;
    this.t[i] = t;
    this.type[i] = TYPE_CODE.get(type) ?? 0;
    this.pid[i] = pid;
    this.comm[i] = this.commId(comm);
    this.refcount[i] = refcount;
    this.mapcount[i] = mapcount;
    this.prev[i] = prevSeq;
    this.seqAt[i] = s;
    return s;
  }

  /** Up to `max` latest entries of `pfn`, newest first, starting at its latest sequence. */
  recent(pfn: number, lastSeq: number, max = 8): HistoryEntry[] {
    const out: HistoryEntry[] = [];
    let s = lastSeq;
    while (s !== 0 && out.length < max) {
      const i = s % this.cap;
      if (this.seqAt[i] !== s || this.pfn[i] !== pfn) break; // overwritten
      out.push({
        type: EVENT_TYPES[this.type[i]!]!,
        t: this.t[i]!,
        pid: this.pid[i]!,
        comm: this.comms[this.comm[i]!] ?? '',
        refcount: this.refcount[i]!,
        mapcount: this.mapcount[i]!,
      });
      s = this.prev[i]!;
    }
    return out;
  }

  private commId(comm: string): number {
    let id = this.commIds.get(comm);
    if (id === undefined) {
      if (this.comms.length >= 0xffff) return 0; // table full: keep going without the name
      id = this.comms.length;
      this.comms.push(comm);
      this.commIds.set(comm, id);
    }
    return id;
  }
}
