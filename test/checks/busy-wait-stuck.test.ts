import { describe, expect, it } from 'vitest';
import { DEV, INO, PMEM_PFN, Stream } from '../helpers/events.js';
import { run } from '../helpers/pipeline.js';

const config = { busyWaitWarnSeconds: 10, busyWaitStuckSeconds: 60 };

function pinnedTruncate(model: 'old' | 'new', waitSeconds: number, drained: boolean) {
  const s = new Stream(model)
    .pgmap()
    .insert(PMEM_PFN)
    .map(PMEM_PFN, 1, model === 'new' ? 1 : 0)
    .gup('get', PMEM_PFN, 2);
  const fn = model === 'new' ? 'dax_break_layout' : 'ext4_break_layouts';
  s.push('layout_break_begin', { tid: 77, dev: DEV, ino: INO, fn, uninterruptible: false });
  s.push('busy_page_found', { dev: DEV, ino: INO, pfn: PMEM_PFN, order: 0, refcount: 2, mapcount: 0 });
  s.wait(waitSeconds);
  if (drained) s.push('layout_break_end', { tid: 77, dev: DEV, ino: INO, fn, sleeps: 3, result: 0 });
  return s;
}

describe('busy_wait_stuck (V8)', () => {
  it('warns at 10 s and raises an error at the stuck threshold, naming the busy pfn, in both models', () => {
    for (const model of ['old', 'new'] as const) {
      const r = run(model, pinnedTruncate(model, 61, false), { config });
      expect(r.violations.map((v) => [v.kind, v.severity])).toEqual([
        ['busy_wait_stuck', 'warning'],
        ['busy_wait_stuck', 'error'],
      ]);
      expect(r.violations[1]).toMatchObject({
        pfn: PMEM_PFN,
        pid: 4242,
        details: { busyPages: 1, busyPfns: [PMEM_PFN] },
      });
    }
  });

  it('clears when the pipe is drained and the wait ends', () => {
    const s = pinnedTruncate('new', 11, true);
    const r = run('new', s, { config, tickAt: s.t - 1 });
    // warning raised during the wait (tick before the end), then cleared by the end
    const w = r.updates.filter((u) => u.v.kind === 'busy_wait_stuck');
    expect(w.map((u) => u.u)).toContain('cleared');
    expect(r.violations[0]!.clearedT).not.toBeNull();
  });

  it('a short wait (pipe drained in time) stays quiet', () => {
    expect(run('new', pinnedTruncate('new', 2, true), { config }).violations).toEqual([]);
  });

  it('does not judge a wait whose end may have been lost in a gap', () => {
    const s = pinnedTruncate('new', 1, false);
    s.push('events_lost', { backend: 'bpftrace', count: 5 });
    s.wait(100);
    expect(run('new', s, { config }).violations).toEqual([]);
  });

  it('thresholds are configurable', () => {
    const r = run('new', pinnedTruncate('new', 3, false), {
      config: { busyWaitWarnSeconds: 1, busyWaitStuckSeconds: 2 },
    });
    expect(r.violations.map((v) => v.severity)).toEqual(['warning', 'error']);
  });
});
