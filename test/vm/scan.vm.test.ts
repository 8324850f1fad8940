import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  assertCacheOutsideRepo,
  defaultCacheDir,
  ensureKernel,
  liveQemuCount,
  runGuest,
} from '../../lab/src/index.js';
import { buildWorkload } from './build.js';
import { REPO_DIR } from './matrix.js';

// Issue 6 in the VM: daxmon started after the pmem exists discovers its pgmap, scans its struct
// pages with daxmon-scan and serves the kernel's own per-page state; a mapped file, a vmsplice
// reference and its release show up in the scan with the counts the refcount model predicts.
// One boot per kernel (memmap=1G!5G, ext4 -o dax, daxmon --backend none: the scan alone).
// About 80 s per kernel warm, so it runs in CI's subset. DAXMON_VM_SCAN=0 skips it;
// DAXMON_VM_SCAN_KERNELS (else DAXMON_VM_KERNELS, else 7,6.12) picks the kernels.
const built =
  existsSync(join(REPO_DIR, 'dist', 'cli.js')) && existsSync(join(REPO_DIR, 'bpf', 'build', 'daxmon-scan'));
const enabled = process.env.DAXMON_VM_SCAN !== '0' && built;
const kernels = (process.env.DAXMON_VM_SCAN_KERNELS ?? process.env.DAXMON_VM_KERNELS ?? '7,6.12')
  .split(',')
  .filter(Boolean);

// The scan alone by default; DAXMON_VM_SCAN_BACKEND=libbpf adds the probes, so the drift counters
// compare events with the truth (printed, not asserted: inline gets and puts are invisible).
const backend = process.env.DAXMON_VM_SCAN_BACKEND ?? 'none';
const PAGES = 256;
const PIN = 16;
const MEMMAP_PFN = 0x140000; // memmap=1G!5G
const MEMMAP_PAGES = 262144;

interface PageTruth {
  pfn: number;
  state: string | null;
  refcount: number | null;
  mapcount: number | null;
  entry: boolean | null;
}
interface Steps {
  errors: string[];
  pgmaps: { id: string; type: string; source: string; ranges: { pfn: number; nrPages: number }[] }[];
  pfns: number[];
  steps: Record<
    string,
    {
      walk?: {
        pages: number;
        nrPages: number;
        hist: Record<string, number>;
        pgmapWordsDistinct: number;
        type: string;
      };
      pinnedPages?: PageTruth[];
      otherPages?: PageTruth[];
      metrics: string[];
    }
  >;
  raw: { nr: number; ns: number; faults: number; pagesPerSecond: number };
  cliPages: { code: number; stdout: string; stderr: string };
  /** GETs retried after a connection-level failure. */
  fetchRetries?: string[];
}

const buildScanwl = (cacheDir: string): Promise<string> =>
  buildWorkload(cacheDir, join(REPO_DIR, 'test', 'vm', 'workloads', 'scanwl.c'));

function metricValue(lines: string[], name: string): number | undefined {
  const l = lines.find((x) => x.startsWith(name + ' ') || x.startsWith(name + '{'));
  return l === undefined ? undefined : Number(l.split(' ').pop());
}

describe.skipIf(!enabled).each(kernels)('struct-page scan on %s', (series) => {
  it('discovers the pmem pgmap and reads the truth of its pages through every step', async () => {
    const cacheDir = defaultCacheDir();
    assertCacheOutsideRepo(cacheDir, REPO_DIR);
    const kernel = await ensureKernel(series, { cacheDir });
    const scanwl = await buildScanwl(cacheDir);
    const job = [
      `daxmon_bg_start daxmon node ${REPO_DIR}/dist/cli.js run --backend ${backend} --no-journal --listen 127.0.0.1:9464 --scan-interval-seconds 1`,
      `node ${REPO_DIR}/test/vm/guest/scan-steps.mjs http://127.0.0.1:9464 ${scanwl} "$DAX_MNT/scanfile" ${PAGES} ${PIN} ${REPO_DIR}/bpf/build/daxmon-scan ${REPO_DIR}/dist/cli.js`,
      'rc=$?',
      'daxmon_bg_stop daxmon INT 15',
      'exit $rc',
    ].join('\n');
    const guest = await runGuest({
      kernel,
      pmem: 'memmap',
      fs: 'ext4',
      job,
      shares: [
        { hostPath: REPO_DIR, readonly: true },
        { hostPath: dirname(scanwl), readonly: true },
      ],
      cacheDir,
      label: `scan-${series}-${backend}`,
      jobTimeoutMs: 15 * 60_000,
      onConsoleLine:
        process.env.DAXMON_VM_CONSOLE === '1'
          ? (l) => process.stderr.write(`[scan ${series}] ${l}\n`)
          : undefined,
    });
    const ctxMsg = `console: ${guest.consoleLog}; results: ${guest.resultsDir}`;
    const stepsPath = join(guest.resultsDir, 'scan-steps.json');
    expect(existsSync(stepsPath), `the guest wrote no scan-steps.json; ${ctxMsg}`).toBe(true);
    const steps = JSON.parse(await readFile(stepsPath, 'utf8')) as Steps;
    expect(steps.errors, ctxMsg).toEqual([]);
    expect(guest.status, ctxMsg).toBe('done');
    const model = kernel.model;
    const idle = model === 'new' ? 0 : 1;

    // 1. discovery: daxmon started after the pmem was set up knows the pgmap, range and type
    const pm = steps.pgmaps.find((p) => p.type === 'fs_dax')!;
    expect(pm.source).toBe('discovered');
    expect(pm.ranges).toEqual([{ pfn: MEMMAP_PFN, nrPages: MEMMAP_PAGES }]);

    // 2. right after boot: every page of the pgmap idle at the model's idle refcount, unmapped,
    // and all carrying one pgmap pointer (the discovered range is the kernel's pgmap)
    const boot = steps.steps.boot!;
    expect(boot.walk!.pages).toBe(MEMMAP_PAGES);
    expect(boot.walk!.pgmapWordsDistinct).toBe(1);
    const idleKeys = Object.keys(boot.walk!.hist).filter((k) => k.startsWith(`idle/${idle}/0/`));
    const idleCount = idleKeys.reduce((n, k) => n + boot.walk!.hist[k]!, 0);
    expect(idleCount, JSON.stringify(boot.walk!.hist)).toBe(MEMMAP_PAGES);
    expect(metricValue(boot.metrics, `daxmon_pgmap_folios{pgmap="${pm.id}",state="idle"}`)).toBe(
      MEMMAP_PAGES,
    );

    // 3. mapped: new model one reference and one mapping per page; old model devmap PTEs leave
    // refcount and mapcount alone (docs/kernel-model.md §2.4)
    expect(steps.pfns.length).toBe(PAGES);
    for (const p of steps.pfns) expect(p >= MEMMAP_PFN && p < MEMMAP_PFN + MEMMAP_PAGES).toBe(true);
    const mapped = steps.steps.mapped!;
    const all = (s: typeof mapped) => [...s.pinnedPages!, ...s.otherPages!];
    for (const p of all(mapped)) {
      expect(p, 'mapped').toMatchObject(
        model === 'new'
          ? { refcount: 1, mapcount: 1, state: 'mapped', entry: true }
          : { refcount: 1, mapcount: 0, state: 'idle', entry: true },
      );
    }
    // the CLI prints the same from the daemon's API
    expect(steps.cliPages.code, steps.cliPages.stderr).toBe(0);
    const cliRows = steps.cliPages.stdout.split('\n').filter((l) => l.startsWith('0x'));
    expect(cliRows).toHaveLength(4);
    expect(cliRows[0]).toContain(`0x${steps.pfns[0]!.toString(16)}`);
    // The CLI prints 4 consecutive pfns; the file's pages need not be contiguous (the fs allocates
    // them), so a row outside the file is an idle page nobody maps.
    const filePfns = new Set(steps.pfns);
    for (const row of cliRows) {
      const inFile = filePfns.has(Number.parseInt(row.split(/\s+/)[0]!, 16));
      const want = !inFile
        ? new RegExp(`^0x\\S+\\s+idle\\s+${idle}\\s+0\\s`)
        : model === 'new'
          ? /^0x\S+\s+mapped\s+1\s+1\s/
          : /^0x\S+\s+idle\s+1\s+0\s/;
      expect(
        row,
        `${inFile ? 'a page of the file' : 'not a page of the file'}; file pfns ${steps.pfns.slice(0, 8).join(',')}`,
      ).toMatch(want);
    }
    // 4. vmsplice: one more reference on the pinned pages, none elsewhere
    const pinned = steps.steps.pinned!;
    for (const p of pinned.pinnedPages!)
      expect(p.refcount, 'pinned').toBe(idle + (model === 'new' ? 1 : 0) + 1);
    for (const p of pinned.otherPages!)
      expect(p.refcount, 'not pinned').toBe(idle + (model === 'new' ? 1 : 0));
    if (model === 'old') for (const p of pinned.pinnedPages!) expect(p.state).toBe('referenced');
    // 5. drained: back to the mapped counts
    for (const p of all(steps.steps.drained!))
      expect(p.refcount, 'drained').toBe(idle + (model === 'new' ? 1 : 0));
    // 6. unmapped: idle again (the DAX entries remain until the file is truncated)
    for (const p of all(steps.steps.unmapped!))
      expect(p, 'unmapped').toMatchObject({ refcount: idle, mapcount: 0, state: 'idle' });

    // scan metrics, and the measured speed
    const last = steps.steps.unmapped!.metrics;
    expect(metricValue(last, 'daxmon_scan_pages_total')).toBeGreaterThanOrEqual(MEMMAP_PAGES * 5);
    expect(metricValue(last, 'daxmon_scan_last_success_timestamp_seconds')).toBeGreaterThan(0);
    expect(steps.raw.nr).toBe(MEMMAP_PAGES);
    expect(steps.raw.faults).toBe(0);
    const sum = metricValue(last, 'daxmon_scan_duration_seconds_sum')!;
    const count = metricValue(last, 'daxmon_scan_duration_seconds_count')!;
    process.stderr.write(
      `[scan ${series}] ${kernel.release}: raw ${Math.round(steps.raw.pagesPerSecond)} pages/s (1 GiB in ${(steps.raw.ns / 1e9).toFixed(2)} s); ` +
        `daemon scans: ${count}, mean ${(sum / count).toFixed(2)} s; drift ${last.filter((l) => l.startsWith('daxmon_scan_drift_total')).join(' ')}; ` +
        `boot ${guest.bootSeconds ?? '?'} s, job ${guest.jobSeconds ?? '?'} s, GETs retried ${steps.fetchRetries?.length ?? 0}\n`,
    );
    expect(liveQemuCount()).toBe(0);
  });
});
