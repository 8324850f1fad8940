/**
 * The live pgmaps' pfn ranges, sorted by start, for "which pgmap holds this pfn". Ranges never
 * overlap (a registration retires the pgmaps it overlaps), so the entry holding a pfn is the last
 * one starting at or before it. Kept in blocks of at most 2 × BLOCK entries so that inserting or
 * removing one moves at most a block and the block index (65,534 pgmaps: ~256 blocks), never the
 * whole table: registration stays cheap however many pgmaps are live. Lookup is two binary
 * searches.
 */
export interface RangeEntry {
  start: number;
  end: number; // exclusive
  idx: number;
}

const BLOCK = 128;

export class RangeTable {
  private readonly blocks: RangeEntry[][] = [];
  private n = 0;
  /** Entries visited by overlapping() and remove(): the work, for tests. */
  visited = 0;

  get size(): number {
    return this.n;
  }

  /** The entry holding pfn, or undefined. */
  find(pfn: number): RangeEntry | undefined {
    const b = this.blockAtOrBefore(pfn);
    if (b < 0) return undefined;
    const blk = this.blocks[b]!;
    const i = lastAtOrBefore(blk, pfn);
    const e = blk[i];
    return e !== undefined && pfn < e.end ? e : undefined;
  }

  insert(e: RangeEntry): void {
    this.n++;
    const blocks = this.blocks;
    if (blocks.length === 0) {
      blocks.push([e]);
      return;
    }
    const b = Math.max(0, this.blockAtOrBefore(e.start));
    const blk = blocks[b]!;
    blk.splice(lastAtOrBefore(blk, e.start) + 1, 0, e);
    if (blk.length > 2 * BLOCK) blocks.splice(b + 1, 0, blk.splice(BLOCK));
  }

  /** Remove the entry starting at `start` owned by slot `idx`; false when there is none. */
  remove(start: number, idx: number): boolean {
    const b = this.blockAtOrBefore(start);
    if (b < 0) return false;
    const blk = this.blocks[b]!;
    for (let i = lastAtOrBefore(blk, start); i >= 0 && blk[i]!.start === start; i--) {
      this.visited++;
      if (blk[i]!.idx !== idx) continue;
      blk.splice(i, 1);
      if (blk.length === 0) this.blocks.splice(b, 1);
      this.n--;
      return true;
    }
    return false;
  }

  /** Entries overlapping [start, end), in order. */
  overlapping(start: number, end: number): RangeEntry[] {
    const out: RangeEntry[] = [];
    const blocks = this.blocks;
    let b = this.blockAtOrBefore(start);
    let i = 0;
    if (b < 0) b = 0;
    else {
      const blk = blocks[b]!;
      i = lastAtOrBefore(blk, start);
      // the one starting at or before `start` overlaps only if it reaches past it
      if (i >= 0 && blk[i]!.end <= start) i++;
      if (i < 0) i = 0;
    }
    for (; b < blocks.length; b++, i = 0) {
      const blk = blocks[b]!;
      for (; i < blk.length; i++) {
        const e = blk[i]!;
        if (e.start >= end) return out;
        this.visited++;
        out.push(e);
      }
    }
    return out;
  }

  /** The last block whose first entry starts at or before pfn; -1 if none. */
  private blockAtOrBefore(pfn: number): number {
    const blocks = this.blocks;
    let lo = 0;
    let hi = blocks.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (blocks[mid]![0]!.start <= pfn) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }
}

/** Index of the last entry of a sorted block starting at or before pfn; -1 if none. */
function lastAtOrBefore(blk: readonly RangeEntry[], pfn: number): number {
  let lo = 0;
  let hi = blk.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (blk[mid]!.start <= pfn) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}
