import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CheckActivity } from '../../src/checks/engine.js';
import { killAllQemu, liveQemuCount } from '../../lab/src/index.js';
import type { DaxFs } from '../../lab/src/index.js';
import { REPO_DIR } from './matrix.js';
import type { ViolationPage, ViolationRun } from './violations/run.js';
import { BUSY_STUCK_SECONDS, BUSY_WARN_SECONDS, reuseViolationRun, runViolations } from './violations/run.js';

// Operator-caused violations raised by daxmon (libbpf backend) inside a real kernel, read from its API
// in the guest: a truncate stuck on vmsplice-pinned pages (busy_wait_stuck, warning then violation,
// cleared by the drain), a refused io_uring FOLL_LONGTERM registration (counted, no violation),
// SIGKILL + restart on the same journal, and an nd_pmem unbind under a live mapping
// (teardown_with_live_folios). One boot per kernel, ~2-3 min each. Part of `npm run test:vm`; CI's
// subset (test:vm:ci) leaves it out with DAXMON_VM_VIOLATIONS=0 to stay within its time budget.
//   [DAXMON_VM_VIOLATIONS_KERNELS=7,6.12 (default: DAXMON_VM_KERNELS, else 7,6.12)] [DAXMON_VM_FS=ext4]
//   [DAXMON_VM_VIOLATIONS_BACKEND=libbpf|bpftrace]
// DAXMON_VM_VIOLATIONS_REUSE=<run folder>[,<run folder>] re-checks earlier boots (one per kernel).
// DAXMON_VM_RECORD_FIXTURES=1 also copies the healthy recordings to test/fixtures/vm/.
const enabled = process.env.DAXMON_VM_VIOLATIONS !== '0';
const kernels = (process.env.DAXMON_VM_VIOLATIONS_KERNELS ?? process.env.DAXMON_VM_KERNELS ?? '7,6.12')
  .split(',')
  .filter(Boolean);
const fs = (process.env.DAXMON_VM_FS?.split(',')[0] ?? 'ext4') as DaxFs;
const saveFixtures = process.env.DAXMON_VM_RECORD_FIXTURES === '1';
const backend = process.env.DAXMON_VM_VIOLATIONS_BACKEND === 'bpftrace' ? 'bpftrace' : 'libbpf';

const HEX_ADDR = /^(0x)?[0-9a-f]{8,}$/i;

function one(page: ViolationPage | undefined, what: string) {
  expect(page, `${what}: no API answer saved`).toBeDefined();
  expect(page!.items.length, `${what}: ${JSON.stringify(page)}`).toBeGreaterThanOrEqual(1);
  return page!.items[0]!;
}

function symbolized(stack: string[] | null): void {
  expect(stack, 'a kernel stack').not.toBeNull();
  expect(stack!.length).toBeGreaterThan(2);
  for (const f of stack!) expect(f, `frame ${f} is symbolized`).not.toMatch(HEX_ADDR);
}

afterAll(() => {
  killAllQemu();
});

describe.skipIf(!enabled).each(kernels)('operator-caused violations on kernel %s', (series) => {
  let run: ViolationRun;
  const figures: Record<string, unknown> = { series, fs, backend };

  it('boots, runs the job to the end', { timeout: 40 * 60_000 }, async () => {
    const t0 = Date.now();
    const reuse = process.env.DAXMON_VM_VIOLATIONS_REUSE?.split(',')[kernels.indexOf(series)];
    run = reuse
      ? await reuseViolationRun(reuse)
      : await runViolations(series, fs, saveFixtures || process.env.DAXMON_VM_RECORD === '1', backend);
    figures.kernel = run.guest.kernelRelease;
    figures.bootSeconds = run.guest.bootSeconds;
    figures.wallSeconds = (Date.now() - t0) / 1000;
    figures.times = await run.file('times.txt');
    expect(run.guest.status, `console: ${run.guest.consoleLog}; ${await run.file('../failed')}`).toBe('done');
    expect(run.guest.jobExitCode, `console: ${run.guest.consoleLog}`).toBe(0);
    if (saveFixtures) {
      const dest = join(REPO_DIR, 'test', 'fixtures', 'vm');
      await mkdir(dest, { recursive: true });
      await copyFile(join(run.dir, 'healthy.ndjson'), join(dest, `healthy-${series}-${fs}.ndjson`));
    }
  });

  it('counts the io_uring FOLL_LONGTERM registration as refused, with no violation', async () => {
    const facts = await run.facts('uring.out');
    expect(facts).toMatchObject({ ok: true, register_rc: -1, register_errno: 'EOPNOTSUPP' });
    const refused = await run.metric('metrics-uring.txt', 'daxmon_gup_longterm_refused_total');
    figures.longtermRefused = refused;
    expect(refused).toBeGreaterThanOrEqual(1);
    const checks = await run.json<CheckActivity[]>('checks-uring.json');
    const lt = checks?.find((c) => c.kind === 'longterm_pin_on_fsdax');
    expect(lt?.active, JSON.stringify(lt)).toBe(true);
    expect(lt?.refused).toBe(refused);
    expect(lt?.violations).toBe(0);
    const page = await run.json<ViolationPage>('vio-longterm.json');
    expect(page?.total).toBe(0);
  });

  it('raises busy_wait_stuck as a warning, then a violation, for a truncate stuck on pinned pages', async () => {
    const facts = await run.facts('pin.out');
    expect(facts).toMatchObject({ ok: true, truncate_blocked: true, truncate_rc: 0, pinned_bytes: 65536 });
    const warn = one(await run.json<ViolationPage>('vio-busy-warning.json'), 'warning');
    const err = one(await run.json<ViolationPage>('vio-busy-error.json'), 'violation');
    for (const v of [warn, err]) {
      expect(v.kind).toBe('busy_wait_stuck');
      expect(v.pfn).not.toBeNull();
      expect(v.pgmap?.type).toBe('fs_dax');
      expect((v.details?.busyPfns as number[]).includes(v.pfn!)).toBe(true);
      symbolized(v.stack);
    }
    expect(warn.severity).toBe('warning');
    expect(err.severity).toBe('error');
    const warnWaited = warn.details?.waitedSeconds as number;
    const errWaited = err.details?.waitedSeconds as number;
    expect(warnWaited).toBeGreaterThanOrEqual(BUSY_WARN_SECONDS);
    expect(warnWaited).toBeLessThan(BUSY_STUCK_SECONDS);
    expect(errWaited).toBeGreaterThanOrEqual(BUSY_STUCK_SECONDS);
    figures.busy = {
      pfn: warn.pfn,
      warnWaitedSeconds: warnWaited,
      errorWaitedSeconds: errWaited,
      stack: err.stack,
      comm: err.comm,
      fn: err.details?.fn,
      busyPages: err.details?.busyPages,
      openWaitsWhileStuck: await run.metric('metrics-busy-error.txt', 'daxmon_busy_waits_open'),
      oldestWaitSeconds: await run.metric('metrics-busy-error.txt', 'daxmon_busy_wait_oldest_seconds'),
      truncateDoneAfterDrainMs: facts.truncate_done_after_drain_ms,
    };
    expect(await run.metric('metrics-busy-error.txt', 'daxmon_busy_waits_open')).toBe(1);
  });

  it('clears busy_wait_stuck when the pipe is drained', async () => {
    expect(await run.metric('metrics-busy-cleared.txt', 'daxmon_busy_waits_open')).toBe(0);
    const page = await run.json<ViolationPage>('vio-busy-cleared.json');
    expect(page?.items.length).toBe(2);
    for (const v of page!.items) expect(v.clearedT, JSON.stringify(v)).not.toBeNull();
    figures.busyClearedAfterStuckSeconds = (page!.items[0]!.clearedT! - page!.items[0]!.t) / 1e9;
  });

  it('keeps the violations across a SIGKILL and restart on the same journal', async () => {
    const before = await run.json<ViolationPage>('vio-busy-cleared.json');
    const after = await run.json<ViolationPage>('vio-restart.json');
    const ids = after?.items.map((v) => v.id) ?? [];
    for (const v of before?.items ?? []) expect(ids).toContain(v.id);
    expect(after?.items.filter((v) => v.kind === 'busy_wait_stuck').length).toBe(2);
    figures.restartReady = await run.file('times.txt');
  });

  it('raises teardown_with_live_folios when nd_pmem is unbound under a live mapping with pins', async () => {
    const facts = await run.facts('holder.out');
    expect(facts).toMatchObject({ pages_mapped: 256, pinned_bytes: 65536, unbind_rc: 0 });
    const v = one(await run.json<ViolationPage>('vio-teardown.json'), 'teardown');
    expect(v.kind).toBe('teardown_with_live_folios');
    expect(v.severity).toBe('error');
    expect(v.pgmap?.type).toBe('fs_dax');
    expect(v.pfn).not.toBeNull();
    expect((v.details?.samplePfns as number[]).includes(v.pfn!)).toBe(true);
    expect(v.details?.mapped as number).toBeGreaterThanOrEqual(256);
    expect(v.details?.pinned as number).toBeGreaterThanOrEqual(1);
    symbolized(v.stack);
    figures.teardown = {
      pfn: v.pfn,
      message: v.message,
      details: v.details,
      stack: v.stack,
      unbindMs: facts.unbind_ms,
    };
    // Ground truth of docs/vm-lab.md: the holder's exit afterwards oopses the kernel.
    figures.holderExitOops = /BUG: unable to handle|Oops: /.test(await run.file('dmesg-holder-exit.txt'));
  });

  it('leaves no qemu behind', () => {
    process.stderr.write(`VIOLATION FIGURES ${JSON.stringify(figures)}\n`);
    expect(liveQemuCount()).toBe(0);
  });
});
