/**
 * V8 busy_wait_stuck: a truncate/hole punch waiting for busy DAX pages that does not finish.
 * The waiter sleeps in ___wait_var_event until the page is idle (old: refcount == 1; new: 0);
 * a page pinned by a pipe or driver keeps it there. New kernels' dax_break_layout_final sleeps
 * TASK_UNINTERRUPTIBLE, so the hung-task detector fires at hung_task_timeout_secs (120 s on
 * Debian): warn at busyWaitWarnSeconds, violate at busyWaitStuckSeconds (default 60 s =
 * min(60, 120/2)). When the wait ends, the finding is cleared.
 * Old-kernel blind spot: dax_layout_busy_page_range skips pinned pages once the mapping is not
 * mapped (6.12), so there the truncate does not wait at all and nothing is seen.
 *
 * Evidence (docs/violations.md, issue 11): a wait is evidence only while no gap made it uncertain,
 * and only if it found a busy page when the busy_page probe was there to see one (a layout break
 * that found none never sleeps: dax_break_layout returns when dax_layout_busy_page_range gives
 * NULL, docs/kernel-model.md §9). Then the check does not accuse: it proposes a candidate, and
 * only the kernel's confirmation (the task still sleeps in the wait, read from /proc by the
 * daemon's confirmer and recorded as `wait_confirmation`) raises it. Streams without a confirmer
 * (hand-written, older recordings) raise it unconfirmed, saying so in details.
 */
import type { OpenWait } from '../state/waits.js';
import type { DaxEvent } from '../events/types.js';
import type { Check, CheckContext, Severity } from './types.js';

const SEVERITIES: readonly Severity[] = ['warning', 'error'];
const BIT: Record<Severity, number> = { warning: 1, error: 2 };

function key(w: OpenWait, severity: Severity): string {
  return `busy_wait_stuck:${severity}:${w.tid}:${w.beginT}`;
}

function limitOf(ctx: CheckContext, severity: Severity): number {
  return severity === 'warning' ? ctx.config.busyWaitWarnSeconds : ctx.config.busyWaitStuckSeconds;
}

/** The busy_page probe is attached: a wait that found no busy page did not sleep. */
function busyPagesSeen(ctx: CheckContext): boolean {
  for (const p of ctx.state.probes.values()) if (p.probe === 'busy_page' && p.attached) return true;
  return false;
}

function isEvidence(w: OpenWait, busyProbe: boolean): boolean {
  return !w.uncertain && (w.busyCount > 0 || !busyProbe);
}

function report(
  ctx: CheckContext,
  w: OpenWait,
  now: number,
  severity: Severity,
  confirmation: string | null,
): void {
  const limit = limitOf(ctx, severity);
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
      tid: w.tid,
      waitedSeconds: waited,
      busyPages: w.busyCount,
      busyPfns: w.busyPfns,
      uninterruptible: w.uninterruptible,
      confirmed: confirmation !== null,
      confirmation: confirmation ?? 'none: the stream has no confirmer',
    },
  });
}

export function createBusyWaitStuck(): Check {
  /** Per wait (`tid:beginT`): severities asked about (bits) and confirmed (bits << 2). */
  const asked = new Map<string, number>();
  const forget = (ctx: CheckContext, w: OpenWait | undefined, t: number): void => {
    if (!w) return;
    ctx.clear(key(w, 'warning'), t);
    ctx.clear(key(w, 'error'), t);
    asked.delete(`${w.tid}:${w.beginT}`);
  };
  return {
    kind: 'busy_wait_stuck',
    invariant: 'V8',
    title: 'busy-page wait not finishing',
    events: ['layout_break_begin', 'layout_break_end', 'wait_confirmation'],
    requires: () => [['layout_break']],
    inspect(e: DaxEvent, ctx) {
      switch (e.type) {
        // The end closes the task's wait; a begin replaces one whose end was missed: either way
        // the earlier wait is over (docs/kernel-model.md §9).
        case 'layout_break_end':
        case 'layout_break_begin':
          forget(ctx, ctx.state.waits.get(e.tid), e.t);
          return;
        case 'wait_confirmation': {
          const w = ctx.state.waits.get(e.tid);
          if (!w || w.beginT !== e.beginT) return;
          if (e.outcome === 'resynced') {
            forget(ctx, w, e.t);
            return;
          }
          if (!isEvidence(w, busyPagesSeen(ctx))) return;
          const id = `${w.tid}:${w.beginT}`;
          asked.set(id, (asked.get(id) ?? 0) | (BIT[e.severity] << 2));
          report(ctx, w, e.t, e.severity, e.detail);
          return;
        }
        default:
          return;
      }
    },
    tick(now, ctx) {
      const busyProbe = busyPagesSeen(ctx);
      for (const w of ctx.state.waits.values()) {
        if (!isEvidence(w, busyProbe)) continue;
        const waited = (now - w.beginT) / 1e9;
        const id = `${w.tid}:${w.beginT}`;
        for (const severity of SEVERITIES) {
          if (waited < limitOf(ctx, severity)) continue;
          if (!ctx.confirms('busy_wait_stuck')) {
            report(ctx, w, now, severity, null);
            continue;
          }
          const bits = asked.get(id) ?? 0;
          // Confirmed: repeats are counted on the record; asked: the answer is on its way.
          if (bits & (BIT[severity] << 2)) report(ctx, w, now, severity, 'confirmed earlier');
          else if (!(bits & BIT[severity])) {
            asked.set(id, bits | BIT[severity]);
            ctx.propose({
              kind: 'busy_wait_stuck',
              severity,
              t: now,
              pid: w.pid,
              tid: w.tid,
              beginT: w.beginT,
              fn: w.fn,
            });
          }
        }
      }
    },
    pending(ctx) {
      const busyProbe = busyPagesSeen(ctx);
      for (const w of ctx.state.waits.values()) if (isEvidence(w, busyProbe)) return true;
      return false;
    },
  };
}
