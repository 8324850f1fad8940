import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllQemu, liveQemuCount } from '../../lab/src/index.js';
import type { MatrixCase } from './matrix.js';
import { matrixFromEnv, resultsReportPath, runCase, scenarioFilter } from './matrix.js';
import type { BootResult } from './runner.js';
import { scenariosFor } from './scenarios.js';
import { formatBootSummary } from './summary.js';

const cases = matrixFromEnv();
const filter = scenarioFilter();
const jobs = Math.max(1, Number.parseInt(process.env.DAXMON_VM_JOBS ?? '1', 10) || 1);
const outcomes = new Map<string, Promise<BootResult>>();

/** Starts every boot up front, at most DAXMON_VM_JOBS at a time (2 cores: one qemu uses both). */
function schedule(all: readonly MatrixCase[]): void {
  let next = 0;
  let running = 0;
  const waiters = new Map<string, { resolve: (r: BootResult) => void; reject: (e: unknown) => void }>();
  for (const c of all) {
    outcomes.set(
      c.label,
      new Promise<BootResult>((resolve, reject) => waiters.set(c.label, { resolve, reject })),
    );
    // Failures are reported by the tests that await them; this keeps Node from calling them unhandled.
    outcomes.get(c.label)?.catch(() => {});
  }
  const pump = (): void => {
    while (running < jobs && next < all.length) {
      const c = all[next++] as MatrixCase;
      const w = waiters.get(c.label);
      running++;
      runCase(c, { scenarios: filter })
        .then(
          (r) => w?.resolve(r),
          (e: unknown) => w?.reject(e),
        )
        .finally(() => {
          running--;
          pump();
        });
    }
  };
  pump();
}

const reports: BootResult[] = [];

beforeAll(() => {
  schedule(cases);
});

afterAll(async () => {
  killAllQemu();
  if (reports.length > 0) {
    const path = resultsReportPath();
    await mkdir(dirname(path), { recursive: true });
    await writeFile(
      path,
      JSON.stringify(reports, (_k, v: unknown) => (v instanceof Map ? Object.fromEntries(v) : v), 2),
    );
    process.stderr.write(`\n${reports.map(formatBootSummary).join('\n')}\nfull report: ${path}\n`);
  }
  expect(liveQemuCount()).toBe(0);
});

// A developer's kernel is named by its release (its truths are those of `series`).
const named = cases.map((c) => ({ ...c, kernel: c.user ? `user-${c.user.release}` : c.series }));

describe.each(named)('kernel $kernel, $pmem $fs, observer $observer', (c) => {
  let boot: BootResult;

  beforeAll(async () => {
    boot = await (outcomes.get(c.label) as Promise<BootResult>);
    reports.push(boot);
  });

  it('boots, runs every scenario and powers off', () => {
    expect(boot.guest.status, `guest ${boot.guest.status}; console: ${boot.guest.consoleLog}`).toBe('done');
    expect(boot.guest.jobExitCode, `job failed; console: ${boot.guest.consoleLog}`).toBe(0);
    // The only oopses allowed are those of holders exiting after an unbind, which their scenarios
    // state as ground truth (exit_oops) and check below.
    const oopsExpected = boot.scenarios.some((x) => x.facts.exit_oops === true);
    expect(boot.guest.kernelOopses.length > 0, `console: ${boot.guest.consoleLog}`).toBe(oopsExpected);
    expect(boot.observerOutput.notes.filter((n) => !/^(bpftrace|daxmon) stderr/.test(n))).toEqual([]);
    expect(boot.bootProblems, `${c.label}: results ${boot.guest.resultsDir}`).toEqual([]);
    expect(boot.guest.kernelRelease).toEqual(
      c.user ? c.user.release : expect.stringMatching(new RegExp(`^${c.series.replace('.', '\\.')}\\.`)),
    );
  });

  it.each(scenariosFor(c.needs, filter).map((s) => s.name))('%s matches its ground truth', (name) => {
    const s = boot.scenarios.find((x) => x.name === name);
    expect(s, `scenario ${name} has no result`).toBeDefined();
    if (!s || s.status === 'skipped') return;
    const why = [...s.problems, ...(s.comparison?.mismatches ?? [])];
    expect(why, `${c.label} ${name}: observed ${JSON.stringify(s.observedByStep)}`).toEqual([]);
    expect(s.status).toBe('passed');
  });
});
