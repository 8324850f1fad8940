/**
 * V8 busy_wait_stuck: a truncate/hole punch waiting for busy DAX pages that does not finish.
 * The waiter sleeps in ___wait_var_event until the page is idle (old: refcount == 1; new: 0);
 * a page pinned by a pipe or driver keeps it there. New kernels' dax_break_layout_final sleeps
 * TASK_UNINTERRUPTIBLE, so the hung-task detector fires at hung_task_timeout_secs (120 s on
 * Debian): warn at busyWaitWarnSeconds, violate at busyWaitStuckSeconds (default 60 s =
 * min(60, 120/2)). When the wait ends, the finding is cleared.
 * Old-kernel blind spot: dax_layout_busy_page_range skips pinned pages once the mapping is not
 * mapped (6.12), so there the truncate does not wait at all and nothing is seen.
 */
import type { OpenWait } from '../state/waits.js';
import type { Check, CheckContext, Severity } from './types.js';

function key(w: OpenWait, severity: Severity): string {
  return `busy_wait_stuck:${severity}:${w.tid}:${w.beginT}`;
}

function report(ctx: CheckContext, w: OpenWait, now: number, severity: Severity, limit: number): void {
  const waited = (now - w.beginT) / 1e9;
  const pfn = w.busyPfns[w.busyPfns.length - 1] ?? null;
  const row = pfn === null ? -1 : ctx.state.folios.find(pfn);
  const f = ctx.state.folios;
  ctx.report({
    kind: 'busy_wait_stuck',
    severity,
    t: now,
    message: `${w.comm} (pid ${w.pid}) waiting ${waited.toFixed(1)} s in ${w.fn} for busy DAX pages of inode ${w.ino}${w.uninterruptible ? ' (uninterruptible)' : ''}; limit ${limit} s`,
    pfn,
    ...(row >= 0 && f.pgmap[row] !== 0xffff ? { pgmapIdx: f.pgmap[row]! } : {}),
    ...(row >= 0 ? { order: f.order[row]! } : {}),
    observed: row >= 0 ? { refcount: f.refcount[row]!, mapcount: f.mapcount[row]! } : {},
    expected: row >= 0 ? { refcount: `${ctx.state.idleOf(row)} (idle)` } : {},
    pid: w.pid,
    comm: w.comm,
    stack: w.stack,
    dedupeKey: key(w, severity),
    details: {
      fn: w.fn,
      dev: w.dev,
      ino: w.ino,
      waitedSeconds: waited,
      busyPages: w.busyCount,
      busyPfns: w.busyPfns,
      uninterruptible: w.uninterruptible,
    },
  });
}

export const busyWaitStuck: Check = {
  kind: 'busy_wait_stuck',
  invariant: 'V8',
  title: 'busy-page wait not finishing',
  events: ['layout_break_end'],
  requires: () => [['layout_break']],
  inspect(e, ctx) {
    if (e.type !== 'layout_break_end') return;
    const w = ctx.state.waits.get(e.tid);
    if (!w) return;
    ctx.clear(key(w, 'warning'), e.t);
    ctx.clear(key(w, 'error'), e.t);
  },
  tick(now, ctx) {
    const { busyWaitWarnSeconds: warn, busyWaitStuckSeconds: stuck } = ctx.config;
    for (const w of ctx.state.waits.values()) {
      if (w.uncertain) continue;
      const waited = (now - w.beginT) / 1e9;
      if (waited >= warn) report(ctx, w, now, 'warning', warn);
      if (waited >= stuck) report(ctx, w, now, 'error', stuck);
    }
  },
};
