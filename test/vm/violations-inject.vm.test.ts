import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Violation } from '../../src/violations/violation.js';
import type { GuestRun } from '../../lab/src/index.js';
import { defaultCacheDir, ensureKernel, killAllQemu, liveQemuCount, runGuest } from '../../lab/src/index.js';
import { REPO_DIR } from './matrix.js';
import { buildDaxfi } from './violations/daxfi.js';
import { renderInjectJob } from './violations/inject-job.js';
import { buildViowl } from './violations/run.js';

// Kinds a healthy kernel cannot produce, seen from a real kernel: a fault-injection module
// (violations/daxfi) takes or drops a page reference behind daxmon's probes, and daxmon must notice
// from what the kernel does next. Old-model kernels only (the module is built on the host with
// Debian's headers; the host's gcc 12 matches bookworm's 6.1). Part of `npm run test:vm` when its
// kernel is in DAXMON_VM_KERNELS (or that is unset); DAXMON_VM_INJECT=0 leaves it out (CI's subset).
//   [DAXMON_VM_INJECT_KERNEL=6.1]
const series = process.env.DAXMON_VM_INJECT_KERNEL ?? '6.1';
const enabled =
  process.env.DAXMON_VM_INJECT !== '0' &&
  (process.env.DAXMON_VM_INJECT_KERNEL !== undefined ||
    process.env.DAXMON_VM_KERNELS === undefined ||
    process.env.DAXMON_VM_KERNELS.split(',').includes(series));
const IDLE_SECONDS = 3;

interface Page {
  items: Violation[];
  total: number;
}

afterAll(() => killAllQemu());

describe.skipIf(!enabled)(`fault injection on kernel ${series}`, () => {
  let guest: GuestRun;
  const dir = (): string => join(guest.resultsDir, 'fi');
  const json = async (f: string): Promise<Page> => JSON.parse(await readFile(join(dir(), f), 'utf8')) as Page;
  const pfnOf = async (name: string): Promise<number> => {
    const m = /^VIOWL pfn (\d+)$/m.exec(await readFile(join(guest.resultsDir, `${name}.out`), 'utf8'));
    return Number(m?.[1]);
  };
  const figures: Record<string, unknown> = { series };

  it('boots and runs the injections', { timeout: 30 * 60_000 }, async () => {
    const cacheDir = defaultCacheDir();
    const kernel = await ensureKernel(series, { cacheDir });
    const daxfi = await buildDaxfi(kernel, cacheDir);
    const viowl = await buildViowl(cacheDir);
    const t0 = Date.now();
    guest = await runGuest({
      kernel,
      pmem: 'memmap',
      fs: 'ext4',
      job: renderInjectJob({
        node: process.execPath,
        repoDir: REPO_DIR,
        viowl,
        daxfi,
        idleMismatchSeconds: IDLE_SECONDS,
      }),
      shares: [
        { hostPath: REPO_DIR, readonly: true },
        { hostPath: dirname(viowl), readonly: true },
        { hostPath: dirname(daxfi), readonly: true },
      ],
      cacheDir,
      label: `inject-${series}`,
      onConsoleLine:
        process.env.DAXMON_VM_CONSOLE === '1'
          ? (l) => process.stderr.write(`[inject ${series}] ${l}\n`)
          : undefined,
    });
    figures.kernel = guest.kernelRelease;
    figures.wallSeconds = (Date.now() - t0) / 1000;
    expect(guest.status, guest.consoleLog).toBe('done');
    expect(guest.jobExitCode, guest.consoleLog).toBe(0);
  });

  it('a page whose idle reference was dropped is faulted in: map_zero_ref on its pfn', async () => {
    const pfn = await pfnOf('zero-map');
    const injected = await readFile(join(dir(), 'zero-map-daxfi.txt'), 'utf8');
    expect(injected).toMatch(/put: refcount 1 -> 0/);
    expect(injected).toMatch(/get: refcount 0 -> 1/);
    const all = await json('zero-map-all.json');
    expect(all.items.map((v) => [v.kind, v.pfn])).toEqual([['map_zero_ref', pfn]]);
    const v = all.items[0]!;
    expect(v.observed.refcount).toBe(0);
    // The folio's history: mapped at the idle 1 first, then (after the injected put) at 0.
    expect(v.recentEvents.filter((e) => e.type === 'folio_map').map((e) => e.refcount)).toEqual([0, 1]);
    // The loader stacks an old-model map at refcount < 1 (docs/backend-protocol.md).
    expect(v.stack?.length).toBeGreaterThan(2);
    expect(v.stack!.join(' ')).toMatch(/dax_iomap|ext4_dax_huge_fault|handle_mm_fault/);
    figures.mapZeroRef = { pfn, message: v.message, stack: v.stack };
  });

  it('a put below the idle 1, then the page left at 0 after truncate: refcount_underflow and idle_refcount_mismatch', async () => {
    const pfn = await pfnOf('pin-put');
    const injected = await readFile(join(dir(), 'pin-put-daxfi.txt'), 'utf8');
    expect(injected).toMatch(/put: refcount 2 -> 1/);
    expect(injected).toMatch(/get: refcount 0 -> 1/);
    const all = await json('pin-put-all.json');
    const mine = all.items.filter((v) => v.kind !== 'map_zero_ref');
    expect(mine.map((v) => [v.kind, v.pfn]).sort()).toEqual(
      [
        ['idle_refcount_mismatch', pfn],
        ['refcount_underflow', pfn],
      ].sort(),
    );
    figures.pinPut = mine.map((v) => ({ kind: v.kind, message: v.message, stack: v.stack }));
  });

  it('leaves no qemu behind', () => {
    process.stderr.write(`INJECT FIGURES ${JSON.stringify(figures)}\n`);
    expect(liveQemuCount()).toBe(0);
  });
});
