/**
 * busy_wait_stuck's evidence (issue 11 items 1, 2): waits paired per task and inode, a wait that
 * found no busy page while the busy_page probe watched is no evidence, and with a confirmer only
 * the kernel's confirmation raises a candidate.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  confirmationEvent,
  judgeWait,
  procWaitConfirmer,
  statState,
} from '../../src/daemon/wait-confirmer.js';
import type { WaitCandidate } from '../../src/checks/types.js';
import { EVENT_TYPES } from '../../src/events/types.js';
import { buildPipeline } from '../../src/pipeline.js';
import type { Violation } from '../../src/violations/violation.js';
import { DEV, INO, PMEM_PFN, Stream } from '../helpers/events.js';
import { run } from '../helpers/pipeline.js';

const config = { busyWaitWarnSeconds: 10, busyWaitStuckSeconds: 60 };
const fn = 'dax_break_layout';

function begin(s: Stream, tid: number, ino = INO): Stream {
  return s.push('layout_break_begin', { tid, dev: DEV, ino, fn, uninterruptible: false });
}
function end(s: Stream, tid: number, ino = INO): Stream {
  return s.push('layout_break_end', { tid, dev: DEV, ino, fn, sleeps: 0, result: 0 });
}
function busy(s: Stream, ino = INO): Stream {
  return s.push('busy_page_found', { dev: DEV, ino, pfn: PMEM_PFN, order: 0, refcount: 2, mapcount: 1 });
}

describe('layout-break waits are paired per task', () => {
  it('a begin whose task has an open wait replaces it: the replaced wait is no evidence, its finding is cleared', () => {
    const s = new Stream('new').pgmap();
    begin(s, 7);
    busy(s);
    s.wait(12); // warned: the wait is 12 s old
    begin(s, 7, INO + 1); // the end was missed: this task is in a new layout break
    end(s, 7, INO + 1);
    s.wait(100);
    const r = run('new', s, { config });
    expect(r.violations.map((v) => v.severity)).toEqual(['warning']);
    expect(r.violations[0]!.clearedT).not.toBeNull();
    expect(r.pipeline.state.waits.size).toBe(0);
    expect(r.pipeline.state.waits.replaced).toBe(1);
  });

  it('an end without a begin is counted, not an error; an end on another inode still closes the task’s wait', () => {
    const s = new Stream('new').pgmap();
    end(s, 8);
    begin(s, 9);
    end(s, 9, INO + 5);
    s.wait(100);
    const r = run('new', s, { config });
    expect(r.violations).toEqual([]);
    expect(r.pipeline.state.waits.unmatchedEnds).toBe(1);
    expect(r.pipeline.state.waits.otherInodeEnds).toBe(1);
    expect(r.pipeline.state.waits.size).toBe(0);
  });

  it('a busy page belongs to the wait of the task that found it', () => {
    const s = new Stream('new').pgmap();
    begin(s, 10); // pid 4242
    s.push('layout_break_begin', { tid: 20, dev: DEV, ino: INO, fn, uninterruptible: false });
    (s.events[s.events.length - 1] as { pid: number }).pid = 20;
    busy(s);
    (s.events[s.events.length - 1] as { pid: number }).pid = 20;
    const r = run('new', s, { config });
    expect(r.pipeline.state.waits.get(20)!.busyCount).toBe(1);
    expect(r.pipeline.state.waits.get(10)!.busyCount).toBe(0);
  });

  it('with the busy_page probe attached, a long wait that found no busy page is not raised (its end was missed)', () => {
    const s = new Stream('new').probes(['layout_break', 'busy_page']).pgmap();
    begin(s, 7);
    s.wait(70);
    expect(run('new', s, { config }).violations).toEqual([]);
    // … whereas one that found a busy page is
    const t = new Stream('new').probes(['layout_break', 'busy_page']).pgmap();
    busy(begin(t, 7));
    t.wait(70);
    expect(run('new', t, { config }).violations.map((v) => v.severity)).toEqual(['warning', 'error']);
  });
});

describe('confirm before you accuse', () => {
  function pipeline(answer: 'confirmed' | 'resynced' | null, taskAlive = true) {
    const violations: Violation[] = [];
    const asked: WaitCandidate[] = [];
    const p = buildPipeline({
      model: 'new',
      kernelRelease: '7.3.4',
      checkConfig: config,
      assumeProbesWhenUnknown: true,
      confirms: ['busy_wait_stuck'],
      sink: { violation: (v, u) => void (u === 'new' && violations.push(v)) },
    });
    if (answer)
      p.confirmWith((c) => {
        asked.push(c);
        return confirmationEvent(c, { outcome: answer, taskAlive, detail: 'test' });
      });
    const s = new Stream('new').pgmap();
    busy(begin(s, 7));
    for (const e of s.events) p.ingest(e);
    return { p, violations, asked, t0: s.t };
  }

  it('a confirmed candidate is raised, with the confirmation in its details', () => {
    const { p, violations, asked, t0 } = pipeline('confirmed');
    p.clock(t0 + 11e9);
    expect(asked.map((c) => c.severity)).toEqual(['warning']);
    expect(violations.map((v) => [v.severity, v.details?.confirmed, v.details?.confirmation])).toEqual([
      ['warning', true, 'test'],
    ]);
  });

  it('a resynced candidate is not raised: a gone task closes the wait, a live one leaves it uncertain', () => {
    const gone = pipeline('resynced', false);
    gone.p.clock(gone.t0 + 11e9);
    gone.p.clock(gone.t0 + 70e9);
    expect(gone.violations).toEqual([]);
    expect(gone.p.state.waits.size).toBe(0);
    expect(gone.p.state.waits.confirmations).toEqual({ confirmed: 0, resynced: 1 });
    const alive = pipeline('resynced', true);
    alive.p.clock(alive.t0 + 11e9);
    alive.p.clock(alive.t0 + 70e9);
    expect(alive.violations).toEqual([]);
    expect(alive.p.state.waits.get(7)!.uncertain).toBe(true);
    expect(alive.asked).toHaveLength(1);
  });

  it('with no confirmer (a replay) a candidate waits for a recorded answer', () => {
    const { p, violations, t0 } = pipeline(null);
    p.clock(t0 + 11e9);
    expect(violations).toEqual([]);
  });

  it('no clock tick is recorded while nothing is pending', () => {
    const p = buildPipeline({ model: 'new', kernelRelease: '7.3.4', sink: { violation: () => undefined } });
    const seen: string[] = [];
    p.observe((e) => void seen.push(e.type));
    p.clock(5e9);
    p.clock(10e9);
    expect(seen).toEqual([]);
  });

  it('old binary recordings keep their tags: the new types are appended', () => {
    expect(EVENT_TYPES.indexOf('probe_status')).toBe(21);
    expect(EVENT_TYPES.slice(22)).toEqual([
      'clock_tick',
      'wait_confirmation',
      'probe_missed',
      'folio_confirmation',
    ]);
  });
});

describe('the /proc confirmer (docs/kernel-model.md §9)', () => {
  const c: WaitCandidate = {
    kind: 'busy_wait_stuck',
    severity: 'warning',
    t: 1,
    pid: 100,
    tid: 101,
    beginT: 0,
    fn,
  };

  it('reads the state after the comm, whatever the comm holds', () => {
    expect(statState('101 (a) b) S 1 2 3')).toBe('S');
    expect(statState('garbage')).toBeNull();
  });

  it('confirms a task sleeping under a layout-break function (wchan or stack), resyncs the rest', () => {
    expect(judgeWait(c, { stat: '101 (trunc) S 1', wchan: 'ext4_wait_dax_page', stack: null }).outcome).toBe(
      'confirmed',
    );
    expect(
      judgeWait(c, {
        stat: '101 (trunc) D 1',
        wchan: '0',
        stack: '[<0>] __schedule+0x1/0x2\n[<0>] dax_break_layout_final+0x9/0x90\n',
      }).outcome,
    ).toBe('confirmed');
    expect(judgeWait(c, { stat: '101 (trunc) R 1', wchan: '0', stack: null })).toMatchObject({
      outcome: 'resynced',
      taskAlive: true,
    });
    expect(judgeWait(c, { stat: '101 (trunc) S 1', wchan: 'do_epoll_wait', stack: null })).toMatchObject({
      outcome: 'resynced',
      taskAlive: true,
    });
    expect(judgeWait(c, { stat: null, wchan: null, stack: null })).toMatchObject({
      outcome: 'resynced',
      taskAlive: false,
    });
  });

  it('confirms a sleeping task whose wchan and stack the kernel hides from daxmon (not ptrace-able: the privilege split)', () => {
    expect(judgeWait(c, { stat: '101 (trunc) D 1', wchan: '0', stack: null })).toMatchObject({
      outcome: 'confirmed',
      taskAlive: true,
    });
    // hidden, but not asleep: running tasks are not in the wait
    expect(judgeWait(c, { stat: '101 (trunc) R 1', wchan: '0', stack: null }).outcome).toBe('resynced');
    // readable and elsewhere: the stack says it is not in the wait
    expect(
      judgeWait(c, { stat: '101 (trunc) S 1', wchan: '0', stack: '[<0>] do_epoll_wait+0x1/0x2\n' }).outcome,
    ).toBe('resynced');
  });

  it('reads /proc/PID/task/TID and reports every outcome', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'daxmon-proc-'));
    try {
      const d = path.join(root, '100', 'task', '101');
      fs.mkdirSync(d, { recursive: true });
      fs.writeFileSync(path.join(d, 'stat'), '101 (truncate) S 1 1 1\n');
      fs.writeFileSync(path.join(d, 'wchan'), 'xfs_wait_dax_page');
      const outcomes: string[] = [];
      const confirm = procWaitConfirmer({ procRoot: root, onOutcome: (_, o) => void outcomes.push(o) });
      expect(confirm(c)).toMatchObject({ type: 'wait_confirmation', tid: 101, outcome: 'confirmed', t: 1 });
      expect(confirm({ ...c, tid: 102 })).toMatchObject({ outcome: 'resynced', taskAlive: false });
      expect(outcomes).toEqual(['confirmed', 'resynced']);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
