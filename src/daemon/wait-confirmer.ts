/**
 * Confirm before you accuse (issue 11): before busy_wait_stuck is raised, read what the kernel
 * holds for the waiting task. docs/kernel-model.md §9: a task in a layout-break wait sleeps (state
 * S in dax_break_layout's TASK_INTERRUPTIBLE wait, D in dax_break_layout_final's uninterruptible
 * one) and /proc/PID/task/TID/wchan names the first caller of schedule() outside the scheduler:
 * the filesystem's wait callback (xfs_wait_dax_page, ext4_wait_dax_page) or the layout-break
 * function itself where the wait is inlined. /proc/PID/task/TID/stack (root only) names the whole
 * chain. The answer is an event (wait_confirmation), so the recording carries it and a replay
 * decides exactly as the live run did. Synchronous: a few small /proc reads, only for candidates.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { WaitCandidate } from '../checks/types.js';
import type { WaitConfirmation } from '../events/types.js';
import type { Confirmer } from '../pipeline.js';

/** Functions a task in a layout-break wait sleeps under (wchan) or has on its stack. */
export const LAYOUT_WAIT_FUNCTIONS: readonly string[] = [
  'xfs_wait_dax_page',
  'ext4_wait_dax_page',
  'dax_break_layout',
  'dax_break_layout_final',
  'wait_page_idle',
  'wait_page_idle_uninterruptible',
  'xfs_break_dax_layouts',
  'ext4_break_layouts',
  'dax_layout_busy_page_range',
];

export interface ProcWaitConfirmerOptions {
  /** /proc, or a tree shaped like it (tests). */
  procRoot?: string;
  /** Told of every answer (daxmon_confirmations_total). */
  onOutcome?: (c: WaitCandidate, outcome: WaitConfirmation['outcome']) => void;
}

function read(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** The state letter of /proc/…/stat (the field after the comm, which may hold spaces and parens). */
export function statState(stat: string): string | null {
  const close = stat.lastIndexOf(')');
  if (close < 0) return null;
  const state = stat.slice(close + 2, close + 3);
  return state === '' ? null : state;
}

function names(text: string | null, fn: (s: string) => boolean): string | null {
  if (text === null) return null;
  for (const line of text.split('\n')) {
    // "[<0>] xfs_wait_dax_page+0x4e/0x70 [xfs]" in stack; a bare symbol in wchan.
    const m = /^(?:\[<[0-9a-fx]+>\]\s+)?([A-Za-z0-9_.]+)/.exec(line.trim());
    if (m && fn(m[1]!)) return m[1]!;
  }
  return null;
}

/** Judge a candidate from what /proc holds for its task. Pure over the files read. */
export function judgeWait(
  c: WaitCandidate,
  files: { stat: string | null; wchan: string | null; stack: string | null },
): Pick<WaitConfirmation, 'outcome' | 'taskAlive' | 'detail'> {
  if (files.stat === null)
    return { outcome: 'resynced', taskAlive: false, detail: `task ${c.tid} of pid ${c.pid} is gone` };
  const state = statState(files.stat);
  const inWait = (s: string): boolean =>
    LAYOUT_WAIT_FUNCTIONS.includes(s.replace(/\.(?:constprop|isra|part)\..*$/, ''));
  const wchan = names(files.wchan, inWait);
  const onStack = names(files.stack, inWait);
  const seen = `state ${state ?? '?'}, wchan ${files.wchan?.trim() || '?'}${files.stack !== null ? `, stack ${onStack ?? 'without a layout-break frame'}` : ''}`;
  const sleeping = state === 'S' || state === 'D';
  if (sleeping && (wchan !== null || onStack !== null))
    return { outcome: 'confirmed', taskAlive: true, detail: seen };
  // The kernel hides wchan ("0") and stack from a reader that may not ptrace the task, which is
  // what the unprivileged daemon of the privilege split is for another user's tasks. Then the
  // task's existence and sleep are all /proc will tell: that still rules out the waits of exited
  // tasks, and an unconfirmable wait must not silence a real stuck truncate.
  const hidden = (files.wchan === null || files.wchan.trim() === '0') && files.stack === null;
  if (sleeping && hidden)
    return { outcome: 'confirmed', taskAlive: true, detail: `${seen} (wchan and stack hidden from daxmon)` };
  return { outcome: 'resynced', taskAlive: true, detail: `not in the layout-break wait: ${seen}` };
}

/** The daemon's confirmer: reads /proc/PID/task/TID/{stat,wchan,stack}. */
export function procWaitConfirmer(o: ProcWaitConfirmerOptions = {}): Confirmer {
  const root = o.procRoot ?? '/proc';
  return (c) => {
    const dir = path.join(root, String(c.pid), 'task', String(c.tid));
    const answer = judgeWait(c, {
      stat: read(path.join(dir, 'stat')),
      wchan: read(path.join(dir, 'wchan')),
      stack: read(path.join(dir, 'stack')),
    });
    o.onOutcome?.(c, answer.outcome);
    return confirmationEvent(c, answer);
  };
}

/** The event that carries an answer: at the candidate's time, so it adds no tick of its own. */
export function confirmationEvent(
  c: WaitCandidate,
  a: Pick<WaitConfirmation, 'outcome' | 'taskAlive' | 'detail'>,
): WaitConfirmation {
  return {
    type: 'wait_confirmation',
    t: c.t,
    pid: c.pid,
    comm: 'daxmon',
    tid: c.tid,
    beginT: c.beginT,
    severity: c.severity,
    ...a,
  };
}
