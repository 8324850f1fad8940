/** A live recording's header makes its replay decide as the live run did (docs/events.md). */
import { describe, expect, it } from 'vitest';
import { replay } from '../../src/replay.js';
import { DEV, INO, PMEM_PFN, Stream } from '../helpers/events.js';

function waitOf(seconds: number, header: Record<string, unknown>): string {
  const s = new Stream('new').pgmap();
  s.headerExtra = header;
  s.push('layout_break_begin', {
    tid: 7,
    dev: DEV,
    ino: INO,
    fn: 'dax_break_layout',
    uninterruptible: false,
  });
  s.push('busy_page_found', { dev: DEV, ino: INO, pfn: PMEM_PFN, order: 0, refcount: 2, mapcount: 1 });
  s.wait(seconds);
  s.push('probe_status', { backend: 'libbpf', probe: 'folio_unmap', attached: true, detail: 'x' });
  return s.ndjson();
}

describe('the recording header', () => {
  it('checkConfig: the live thresholds apply unless the replay names its own', async () => {
    const text = waitOf(3, { checkConfig: { busyWaitWarnSeconds: 2, busyWaitStuckSeconds: 100, bogus: 1 } });
    expect((await replay(Buffer.from(text))).violations.map((v) => v.severity)).toEqual(['warning']);
    expect((await replay(Buffer.from(waitOf(3, {})))).violations).toEqual([]);
    const own = await replay(Buffer.from(text), { checkConfig: { busyWaitWarnSeconds: 5 } });
    expect(own.violations).toEqual([]);
  });

  it('an unusable checkConfig or confirms is ignored, not a crash', async () => {
    const r = await replay(Buffer.from(waitOf(11, { checkConfig: 'x', confirms: 'busy_wait_stuck' })));
    expect(r.errors).toEqual([]);
    expect(r.violations.map((v) => v.severity)).toEqual(['warning']);
  });

  it('confirms: without a recorded confirmation the candidate is not raised', async () => {
    const r = await replay(Buffer.from(waitOf(11, { confirms: ['busy_wait_stuck'] })));
    expect(r.violations).toEqual([]);
  });

  it('clock "recorded": no final tick of the replay’s own (the live run had none there)', async () => {
    // The wait is 10.5 s old at the last event, which came < 1 s after the last tick.
    const s = new Stream('new').pgmap();
    s.push('layout_break_begin', {
      tid: 7,
      dev: DEV,
      ino: INO,
      fn: 'dax_break_layout',
      uninterruptible: false,
    });
    s.push('busy_page_found', { dev: DEV, ino: INO, pfn: PMEM_PFN, order: 0, refcount: 2, mapcount: 1 });
    s.wait(9.8);
    s.push('clock_tick', {});
    s.wait(0.7);
    s.push('dax_fault', { dev: DEV, ino: INO, pgoff: 0, pmd: false, write: false, result: 0x100 });
    expect((await replay(Buffer.from(s.ndjson()))).violations.map((v) => v.severity)).toEqual(['warning']);
    s.headerExtra = { clock: 'recorded' };
    expect((await replay(Buffer.from(s.ndjson()))).violations).toEqual([]);
  });
});
