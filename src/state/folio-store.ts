/**
 * Tracked folios, stored as columns of typed arrays (no object per folio) and found by pfn through
 * an open-addressing hash index.
 *
 * Why this shape: ten million tracked folios must fit in well under 1 GiB and be updated at
 * millions of events per second. A row costs COLUMN_BYTES_PER_FOLIO bytes of columns plus the
 * index (an Int32Array kept at most half full: ≤ 8 bytes per folio). Rows are dense (removal
 * moves the last row into the hole), and columns grow in place by 1.5x, so there is neither
 * fragmentation nor a per-folio allocation.
 */

/** Lifecycle state of a folio, derived from its counts (see classify() in refcount-model.ts). */
/**
 * `mapped_unknown`: old model only: mapped through a devmap PTE/PMD at some point since its DAX
 * entry was inserted; whether it is still mapped cannot be observed (no unmap hook, no mapcount:
 * docs/kernel-model.md §12), so daxmon does not claim `mapped`.
 */
export const FOLIO_STATES = ['idle', 'mapped', 'pinned', 'referenced', 'free', 'mapped_unknown'] as const;
export type FolioState = (typeof FOLIO_STATES)[number];
export const STATE_CODE: Readonly<Record<FolioState, number>> = {
  idle: 0,
  mapped: 1,
  pinned: 2,
  referenced: 3,
  free: 4,
  mapped_unknown: 5,
};

/** Bits of the `flags` column. */
export const FLAG = {
  /** The folio backs a DAX entry (dax_insert_entry seen, no removal since). */
  ENTRY: 1,
  /** The kernel freed it (free_zone_device_folio) and nothing took it since. */
  FREED: 2,
  /** Old model: put into a page table as a devmap PTE/PMD since its entry was created. */
  DEVMAP_MAPPED: 4,
  /** The entry is a shared (reflink) extent. */
  SHARED: 8,
  /** The refcount column holds an inference (counts after an expected put), not a reading. */
  INFERRED: 16,
} as const;

export const NO_PGMAP = 0xffff;
export const NO_INODE = 0;

const EMPTY = -1;
const INITIAL_ROWS = 1024;
const INITIAL_SLOTS = 2048;

/** Bytes of column storage per row; the bench reports the real figure including the index. */
export const COLUMN_BYTES_PER_FOLIO = 8 + 4 + 4 + 4 + 1 + 1 + 1 + 2 + 4 + 4 + 4 + 4 + 4;

export class FolioStore {
  // columns (row-indexed)
  pfn = new Float64Array(INITIAL_ROWS);
  refcount = new Int32Array(INITIAL_ROWS);
  mapcount = new Int32Array(INITIAL_ROWS);
  /** References the folio holds on behalf of GUP (get refs, pin bias) as far as daxmon saw them. */
  gupRefs = new Int32Array(INITIAL_ROWS);
  order = new Uint8Array(INITIAL_ROWS);
  flags = new Uint8Array(INITIAL_ROWS);
  state = new Uint8Array(INITIAL_ROWS);
  pgmap = new Uint16Array(INITIAL_ROWS);
  /** Gap generation when the row was last brought up to date (older than current = uncertain). */
  gapGen = new Uint32Array(INITIAL_ROWS);
  inode = new Uint32Array(INITIAL_ROWS);
  index = new Uint32Array(INITIAL_ROWS);
  /** Sequence number of the folio's latest event in the history ring (0 = none). */
  lastSeq = new Uint32Array(INITIAL_ROWS);
  /** When the folio entered its current state, in deciseconds of the stream clock. */
  since = new Uint32Array(INITIAL_ROWS);

  private slots = new Int32Array(INITIAL_SLOTS).fill(EMPTY);
  private mask = INITIAL_SLOTS - 1;
  private rows = 0;

  get size(): number {
    return this.rows;
  }

  /** Bytes held by the columns and the index (what 10M folios cost is computed from this). */
  get bytes(): number {
    const cap = this.pfn.length;
    return cap * COLUMN_BYTES_PER_FOLIO + this.slots.byteLength;
  }

  /** Row of `pfn`, or -1. */
  find(pfn: number): number {
    const slots = this.slots;
    const mask = this.mask;
    let i = hash(pfn) & mask;
    for (;;) {
      const r = slots[i]!;
      if (r === EMPTY) return -1;
      if (this.pfn[r] === pfn) return r;
      i = (i + 1) & mask;
    }
  }

  /** Row of `pfn`, created zeroed (state idle, no pgmap, no entry) if absent. `created` tells which. */
  upsert(pfn: number): number {
    const mask = this.mask;
    let i = hash(pfn) & mask;
    for (;;) {
      const r = this.slots[i]!;
      if (r === EMPTY) break;
      if (this.pfn[r] === pfn) {
        this.created = false;
        return r;
      }
      i = (i + 1) & mask;
    }
    if (this.rows === this.pfn.length) this.growRows();
    if ((this.rows + 1) * 2 > this.slots.length) {
      this.growSlots();
      return this.upsert(pfn);
    }
    const row = this.rows++;
    this.slots[i] = row;
    this.pfn[row] = pfn;
    this.refcount[row] = 0;
    this.mapcount[row] = 0;
    this.gupRefs[row] = 0;
    this.order[row] = 0;
    this.flags[row] = 0;
    this.state[row] = 0;
    this.pgmap[row] = NO_PGMAP;
    this.gapGen[row] = 0;
    this.inode[row] = NO_INODE;
    this.index[row] = 0;
    this.lastSeq[row] = 0;
    this.since[row] = 0;
    this.created = true;
    return row;
  }

  /** Set by upsert(): whether the last call created the row. */
  created = false;

  /**
   * Remove `pfn`; false if it was not tracked. The last row moves into the hole, so a row number
   * held across a remove() is invalid.
   */
  remove(pfn: number): boolean {
    const mask = this.mask;
    let i = hash(pfn) & mask;
    for (;;) {
      const r = this.slots[i]!;
      if (r === EMPTY) return false;
      if (this.pfn[r] === pfn) break;
      i = (i + 1) & mask;
    }
    const row = this.slots[i]!;
    this.deleteSlot(i);
    const last = --this.rows;
    if (row !== last) {
      this.copyRow(last, row);
      // repoint the moved row's slot
      let j = hash(this.pfn[row]!) & mask;
      while (this.slots[j] !== last) j = (j + 1) & mask;
      this.slots[j] = row;
    }
    return true;
  }

  clear(): void {
    this.rows = 0;
    this.slots.fill(EMPTY);
  }

  /** Calls fn(row) for every row. fn must not add or remove rows. */
  forEach(fn: (row: number) => void): void {
    for (let r = 0; r < this.rows; r++) fn(r);
  }

  private copyRow(from: number, to: number): void {
    this.pfn[to] = this.pfn[from]!;
    this.refcount[to] = this.refcount[from]!;
    this.mapcount[to] = this.mapcount[from]!;
    this.gupRefs[to] = this.gupRefs[from]!;
    this.order[to] = this.order[from]!;
    this.flags[to] = this.flags[from]!;
    this.state[to] = this.state[from]!;
    this.pgmap[to] = this.pgmap[from]!;
    this.gapGen[to] = this.gapGen[from]!;
    this.inode[to] = this.inode[from]!;
    this.index[to] = this.index[from]!;
    this.lastSeq[to] = this.lastSeq[from]!;
    this.since[to] = this.since[from]!;
  }

  /** Backward-shift deletion keeps linear probing correct without tombstones. */
  private deleteSlot(hole: number): void {
    const slots = this.slots;
    const mask = this.mask;
    let i = hole;
    let j = hole;
    for (;;) {
      j = (j + 1) & mask;
      const r = slots[j]!;
      if (r === EMPTY) break;
      const home = hash(this.pfn[r]!) & mask;
      // Move r back into the hole if its home is not cyclically within (i, j].
      const between = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!between) {
        slots[i] = r;
        i = j;
      }
    }
    slots[i] = EMPTY;
  }

  private growRows(): void {
    const cap = Math.ceil(this.pfn.length * 1.5);
    this.pfn = growF64(this.pfn, cap);
    this.refcount = growI32(this.refcount, cap);
    this.mapcount = growI32(this.mapcount, cap);
    this.gupRefs = growI32(this.gupRefs, cap);
    this.order = growU8(this.order, cap);
    this.flags = growU8(this.flags, cap);
    this.state = growU8(this.state, cap);
    this.pgmap = growU16(this.pgmap, cap);
    this.gapGen = growU32(this.gapGen, cap);
    this.inode = growU32(this.inode, cap);
    this.index = growU32(this.index, cap);
    this.lastSeq = growU32(this.lastSeq, cap);
    this.since = growU32(this.since, cap);
  }

  private growSlots(): void {
    const n = this.slots.length * 2;
    this.slots = new Int32Array(n).fill(EMPTY);
    this.mask = n - 1;
    for (let r = 0; r < this.rows; r++) {
      let i = hash(this.pfn[r]!) & this.mask;
      while (this.slots[i] !== EMPTY) i = (i + 1) & this.mask;
      this.slots[i] = r;
    }
  }
}

/**
 * pfns are integers below 2^52. Mix both 32-bit halves (Math.imul-based, like murmur3's finalizer)
 * so that consecutive pfns, and pfns 2^32 apart, spread over the table.
 */
function hash(pfn: number): number {
  let h = (pfn >>> 0) ^ Math.imul((pfn / 4294967296) >>> 0, 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

function growF64(a: Float64Array, n: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(n);
  b.set(a);
  return b;
}
function growI32(a: Int32Array, n: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(n);
  b.set(a);
  return b;
}
function growU32(a: Uint32Array, n: number): Uint32Array<ArrayBuffer> {
  const b = new Uint32Array(n);
  b.set(a);
  return b;
}
function growU16(a: Uint16Array, n: number): Uint16Array<ArrayBuffer> {
  const b = new Uint16Array(n);
  b.set(a);
  return b;
}
function growU8(a: Uint8Array, n: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(n);
  b.set(a);
  return b;
}
