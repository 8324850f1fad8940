import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Violation } from '../../src/violations/violation.js';
import type { GuestRun, KtapReport } from '../../lab/src/index.js';
import {
  defaultCacheDir,
  ensureBuildRoot,
  ensureHmmBuild,
  ensureKernel,
  killAllQemu,
  ktapTally,
  liveQemuCount,
  parseKtap,
  runGuest,
} from '../../lab/src/index.js';
import { REPO_DIR } from './matrix.js';
import { renderHmmJob } from './hmm/job.js';

// The kernel's own HMM test suite (hmm-tests, with its test_hmm.ko driver built for Debian's 7.3 in
// the trixie build root: docs/vm-lab.md "HMM test driver") in the guest, without and with daxmon
// attached. Needs root (debootstrap, chroot). Each test's own verdict is recorded, and with daxmon
// the violations it raised and the events it saw. Not in CI's subset (DAXMON_VM_HMM=0): the build
// root alone is 1.5 minutes fresh. DAXMON_VM_HMM_COHERENT=0 leaves out the device-coherent run.
const series = '7';
const enabled =
  process.env.DAXMON_VM_HMM !== '0' &&
  (process.env.DAXMON_VM_KERNELS === undefined || process.env.DAXMON_VM_KERNELS.split(',').includes(series));
const coherentWanted = process.env.DAXMON_VM_HMM_COHERENT !== '0';
// `first`: test_hmm loaded with its coherent devices before the first run (both runs cover both
// variants); default: a third run after a reload with them.
const coherentFirst = coherentWanted && process.env.DAXMON_VM_HMM_COHERENT === 'first';
// 512 MiB reserved at 4 GiB (guest RAM above 2 GiB starts there on q35; the lab's memmap pmem is at
// 5 GiB): two 256 MiB chunks, test_hmm's DEVMEM_CHUNK_SIZE, one per coherent device.
const COHERENT = { dev0: 0x1_0000_0000, dev1: 0x1_1000_0000 };
const RESERVE = 'memmap=512M$4G';

interface Page {
  items: Violation[];
  total: number;
}

afterAll(() => killAllQemu());

describe.skipIf(!enabled)(`hmm-tests on kernel ${series}`, () => {
  let guest: GuestRun;
  const h = (f: string): string => join(guest.resultsDir, 'hmm', f);
  const text = (f: string): Promise<string> => readFile(h(f), 'utf8').catch(() => '');
  const figures: Record<string, unknown> = { series };
  const reports: Record<string, KtapReport> = {};

  it('builds test_hmm.ko and hmm-tests, boots and runs them', { timeout: 60 * 60_000 }, async () => {
    const cacheDir = defaultCacheDir();
    const kernel = await ensureKernel(series, { cacheDir });
    const root = await ensureBuildRoot({ cacheDir });
    const hmm = await ensureHmmBuild({ cacheDir, kernel, buildRoot: root });
    figures.buildRoot = { key: root.key, fresh: root.fresh, seconds: root.elapsedMs / 1000 };
    figures.hmmBuild = {
      key: hmm.key,
      fresh: hmm.fresh,
      seconds: hmm.elapsedMs / 1000,
      vermagic: hmm.vermagic,
    };
    const t0 = Date.now();
    guest = await runGuest({
      kernel,
      pmem: 'memmap',
      fs: 'ext4',
      extraCmdline: coherentWanted ? [RESERVE] : [],
      job: renderHmmJob({
        node: process.execPath,
        repoDir: REPO_DIR,
        module: hmm.module,
        tests: hmm.tests,
        ...(coherentWanted ? { coherent: COHERENT, coherentFromStart: coherentFirst } : {}),
        runTimeoutSeconds: 1200,
      }),
      shares: [
        { hostPath: REPO_DIR, readonly: true },
        { hostPath: dirname(hmm.module), readonly: true },
      ],
      cacheDir,
      label: `hmm-${series}`,
      jobTimeoutMs: 50 * 60_000,
      onConsoleLine:
        process.env.DAXMON_VM_CONSOLE === '1'
          ? (l) => process.stderr.write(`[hmm ${series}] ${l}\n`)
          : undefined,
    });
    figures.kernel = guest.kernelRelease;
    figures.wallSeconds = (Date.now() - t0) / 1000;
    figures.resultsDir = guest.resultsDir;
    expect(guest.status, guest.consoleLog).toBe('done');
    expect(guest.jobExitCode, guest.consoleLog).toBe(0);
    expect((await text('uname.txt')).trim()).toBe(kernel.release);
  });

  for (const run of ['plain', 'daxmon', ...(coherentWanted && !coherentFirst ? ['coherent'] : [])]) {
    it(`hmm-tests (${run}) reports every test's own result`, async () => {
      const rc = (await text(`${run}.rc`)).trim();
      figures[`${run}Rc`] = rc;
      if (run === 'coherent' && rc === 'insmod failed') {
        figures.coherent = { insmod: await text('insmod-coherent.txt'), dmesg: await text('coherent.dmesg') };
        return;
      }
      const r = parseKtap(await text(`${run}.tap`));
      reports[run] = r;
      figures[run] = {
        tally: ktapTally(r),
        totals: r.totals,
        seconds: Number(rc.split(' ')[1]) / 1000,
        failed: r.results.filter((x) => x.status === 'fail').map((x) => x.name),
        results: Object.fromEntries(r.results.map((x) => [x.name, x.status])),
        kernelWarnings: [
          ...(await text(`${run}.dmesg`)).matchAll(/WARNING: CPU: \d+ PID: \d+ at .*|BUG: .*/g),
        ].map((m) => m[0]),
      };
      expect(r.planned).toBeGreaterThan(0);
      expect(r.missing).toEqual([]);
    });
  }

  it('records what daxmon saw during hmm-tests, and it raised nothing', async () => {
    for (const run of ['daxmon', ...(coherentWanted && !coherentFirst ? ['coherent'] : [])]) {
      const v = await text(`${run}-violations.json`);
      if (!v) continue;
      const page = JSON.parse(v) as Page;
      const metrics = await text(`${run}-metrics.txt`);
      // Per kind from the metrics: the API page holds at most 1000 items.
      const kinds: Record<string, number> = {};
      for (const m of metrics.matchAll(
        /^daxmon_violations_total\{kind="([^"]+)",severity="[^"]+"\} (\S+)$/gm,
      )) {
        if (Number(m[2]) > 0) kinds[m[1] as string] = (kinds[m[1] as string] ?? 0) + Number(m[2]);
      }
      const events = Object.fromEntries(
        [...metrics.matchAll(/^daxmon_events_total\{([^}]*)\} (\S+)$/gm)].map((m) => [m[1], Number(m[2])]),
      );
      figures[`${run}Daxmon`] = { violationsTotal: page.total, kinds, example: page.items[0], events };
      // A healthy kernel's own selftest: any violation is a daxmon false alarm until shown otherwise.
      expect(kinds, `${run}: ${JSON.stringify(page.items[0])}`).toEqual({});
    }
    expect(await text('daxmon-state.json')).not.toBe('');
  });

  it('leaves no qemu behind', () => {
    process.stderr.write(`HMM FIGURES ${JSON.stringify(figures)}\n`);
    expect(liveQemuCount()).toBe(0);
  });
});
