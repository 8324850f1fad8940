/**
 * Host side of the violations VM test: builds viowl, boots one kernel with memmap pmem, runs the
 * job (job.ts) and reads back what daxmon said in the guest.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Violation } from '../../../src/violations/violation.js';
import type { DaxFs, GuestRun } from '../../../lab/src/index.js';
import { defaultCacheDir, ensureKernel, runGuest } from '../../../lab/src/index.js';
import { buildDaxwl, buildWorkload } from '../build.js';
import { REPO_DIR } from '../matrix.js';
import { renderViolationJob } from './job.js';

const here = dirname(fileURLToPath(import.meta.url));
const VIOWL_SOURCE = join(here, 'viowl.c');

export const buildViowl = (cacheDir: string): Promise<string> => buildWorkload(cacheDir, VIOWL_SOURCE);

export interface ViolationPage {
  items: Violation[];
  total: number;
}

export interface ViolationRun {
  guest: GuestRun;
  dir: string;
  file(name: string): Promise<string>;
  json<T>(name: string): Promise<T | undefined>;
  /** `DAXWL_RESULT` of a workload's output file. */
  facts(name: string): Promise<Record<string, unknown>>;
  /** A metric's value (first sample whose line starts with `name` and the given label text). */
  metric(file: string, name: string): Promise<number | undefined>;
}

export const BUSY_WARN_SECONDS = 3;
export const BUSY_STUCK_SECONDS = 8;

export async function runViolations(
  series: string,
  fs: DaxFs,
  recordHealthy: boolean,
  backend: 'libbpf' | 'bpftrace' = 'libbpf',
): Promise<ViolationRun> {
  const cacheDir = defaultCacheDir();
  const kernel = await ensureKernel(series, { cacheDir });
  const viowl = await buildViowl(cacheDir);
  const daxwl = await buildDaxwl(cacheDir);
  const guest = await runGuest({
    kernel,
    pmem: 'memmap',
    fs,
    job: renderViolationJob({
      node: process.execPath,
      repoDir: REPO_DIR,
      viowl,
      daxwl,
      busyWarnSeconds: BUSY_WARN_SECONDS,
      busyStuckSeconds: BUSY_STUCK_SECONDS,
      recordHealthy,
      backend,
    }),
    shares: [
      { hostPath: REPO_DIR, readonly: true },
      { hostPath: dirname(viowl), readonly: true },
      { hostPath: dirname(daxwl), readonly: true },
    ],
    cacheDir,
    label: `violations-${series}-${fs}-${backend}`,
    onConsoleLine:
      process.env.DAXMON_VM_CONSOLE === '1'
        ? (l) => process.stderr.write(`[vio ${series}] ${l}\n`)
        : undefined,
  });
  return readViolationRun(guest);
}

/**
 * Re-reads the results of an earlier boot (DAXMON_VM_VIOLATIONS_REUSE=<run folder>): the same
 * assertions over the same guest output, without booting again (for changing the test, not the job).
 */
export async function reuseViolationRun(runDir: string): Promise<ViolationRun> {
  const resultsDir = join(runDir, 'results');
  const read = (f: string): Promise<string> => readFile(join(resultsDir, f), 'utf8').then((t) => t.trim());
  const guest = {
    status: 'done',
    jobExitCode: Number(await read('job.rc')),
    kernelRelease: await read('uname'),
    runDir,
    resultsDir,
    consoleLog: join(runDir, 'console-1.log'),
  } as GuestRun;
  return readViolationRun(guest);
}

function readViolationRun(guest: GuestRun): ViolationRun {
  const dir = join(guest.resultsDir, 'vio');
  const file = (name: string): Promise<string> => readFile(join(dir, name), 'utf8').catch(() => '');
  const json = async <T>(name: string): Promise<T | undefined> => {
    const t = await file(name);
    try {
      return t ? (JSON.parse(t) as T) : undefined;
    } catch {
      return undefined;
    }
  };
  return {
    guest,
    dir,
    file,
    json,
    facts: async (name) => {
      // Background helpers (daxmon_bg_start) write to the results folder itself, the rest to vio/.
      const text =
        (await file(name)) || (await readFile(join(guest.resultsDir, name), 'utf8').catch(() => ''));
      const m = /DAXWL_RESULT (\{.*\})/.exec(text);
      return m?.[1] ? (JSON.parse(m[1]) as Record<string, unknown>) : {};
    },
    metric: async (f, name) => {
      for (const line of (await file(f)).split('\n')) {
        if (line.startsWith('#')) continue;
        const m = /^(\S+?)(\{[^}]*\})? (\S+)$/.exec(line);
        if (m && m[1] === name) return Number(m[3]);
      }
      return undefined;
    },
  };
}
