/**
 * Layout-break waits in progress: a truncate or hole punch that waits for busy DAX pages to go
 * idle (old: xfs_break_dax_layouts/ext4_break_layouts; new: dax_break_layout(_final)).
 */
import type { LayoutBreakFn } from '../events/types.js';

export interface OpenWait {
  tid: number;
  pid: number;
  comm: string;
  dev: number;
  ino: number;
  fn: LayoutBreakFn;
  uninterruptible: boolean;
  beginT: number;
  /** Busy pages the kernel reported during this wait (first few, most recent last). */
  busyPfns: number[];
  busyCount: number;
  stack: string[] | undefined;
  /** The backend had a gap while this wait was open: its end may have been lost. */
  uncertain: boolean;
}

export const MAX_BUSY_PFNS_PER_WAIT = 16;

export class WaitTable {
  private readonly byTid = new Map<number, OpenWait>();

  get size(): number {
    return this.byTid.size;
  }

  values(): IterableIterator<OpenWait> {
    return this.byTid.values();
  }

  get(tid: number): OpenWait | undefined {
    return this.byTid.get(tid);
  }

  open(w: OpenWait): OpenWait | undefined {
    const prev = this.byTid.get(w.tid);
    this.byTid.set(w.tid, w);
    return prev;
  }

  close(tid: number): OpenWait | undefined {
    const w = this.byTid.get(tid);
    if (w) this.byTid.delete(tid);
    return w;
  }

  /** The open wait on this inode, if any (busy pages are found in the waiter's own context). */
  onInode(dev: number, ino: number): OpenWait | undefined {
    for (const w of this.byTid.values()) if (w.dev === dev && w.ino === ino) return w;
    return undefined;
  }

  /** Is pfn one of the busy pages an open wait is waiting for? */
  waitingOn(pfn: number): OpenWait | undefined {
    for (const w of this.byTid.values()) if (w.busyPfns.includes(pfn)) return w;
    return undefined;
  }

  markAllUncertain(): void {
    for (const w of this.byTid.values()) w.uncertain = true;
  }

  oldestBeginT(): number | null {
    let min: number | null = null;
    for (const w of this.byTid.values()) if (min === null || w.beginT < min) min = w.beginT;
    return min;
  }
}
