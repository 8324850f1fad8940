/**
 * Layout-break waits in progress: a truncate or hole punch that waits for busy DAX pages to go
 * idle (old: xfs_break_dax_layouts/ext4_break_layouts; new: dax_break_layout(_final)).
 *
 * Paired per task: a task is in at most one layout break at a time (the filesystems call them one
 * after the other, never nested), so the end of task T closes T's open wait, whatever inode it
 * names, and a begin for a task that already has an open wait replaces it: that wait's end was
 * missed (a skipped program run, issue 11), so it is over and is not evidence of anything. An end
 * with no open wait is a missed begin: counted, not an error (docs/kernel-model.md §9).
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
  /** Begins that found their task's previous wait still open (its end was missed). */
  replaced = 0;
  /** Ends with no open wait of their task (the begin was missed). */
  unmatchedEnds = 0;
  /** Ends whose open wait was on another inode (both the end and the next begin were missed). */
  otherInodeEnds = 0;
  /** Answers of the confirmer (wait_confirmation events), by outcome. */
  readonly confirmations = { confirmed: 0, resynced: 0 };

  get size(): number {
    return this.byTid.size;
  }

  values(): IterableIterator<OpenWait> {
    return this.byTid.values();
  }

  get(tid: number): OpenWait | undefined {
    return this.byTid.get(tid);
  }

  /** Open a wait; the task's previous one, still open, is replaced (returned, not a finished wait). */
  open(w: OpenWait): OpenWait | undefined {
    const prev = this.byTid.get(w.tid);
    if (prev) this.replaced++;
    this.byTid.set(w.tid, w);
    return prev;
  }

  /** The end of task `tid`'s layout break: closes its open wait (undefined: the begin was missed). */
  close(tid: number, dev?: number, ino?: number): OpenWait | undefined {
    const w = this.byTid.get(tid);
    if (!w) {
      this.unmatchedEnds++;
      return undefined;
    }
    if (dev !== undefined && (w.dev !== dev || w.ino !== ino)) this.otherInodeEnds++;
    this.byTid.delete(tid);
    return w;
  }

  /**
   * The kernel did not show this wait's task sleeping in the wait: a task that is gone closes it,
   * a live one (unreadable, or doing something else) leaves it uncertain, never evidence again.
   */
  resync(tid: number, beginT: number, taskAlive: boolean): OpenWait | undefined {
    const w = this.byTid.get(tid);
    if (!w || w.beginT !== beginT) return undefined;
    if (taskAlive) w.uncertain = true;
    else this.byTid.delete(tid);
    return w;
  }

  /** The open wait a busy page found by task `pid` on this inode belongs to (the waiter finds it). */
  forBusyPage(pid: number, dev: number, ino: number): OpenWait | undefined {
    let any: OpenWait | undefined;
    for (const w of this.byTid.values()) {
      if (w.dev !== dev || w.ino !== ino) continue;
      if (w.pid === pid) return w;
      any ??= w;
    }
    return any;
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
