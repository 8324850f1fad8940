import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DaxFs, GuestRun, Logger, PmemKind, UserKernelSource } from '../../lab/src/index.js';
import {
  KERNEL_SERIES,
  VmError,
  assertCacheOutsideRepo,
  defaultCacheDir,
  ensureKernel,
  ensureUserKernel,
  findSeries,
  runGuest,
  truthSeriesOf,
  userKernelRelease,
} from '../../lab/src/index.js';
import { buildDaxwl } from './build.js';
import type { Observer } from './observer.js';
import { bpftraceObserver } from './observer-bpftrace.js';
import { daxmonBootProblems, daxmonScenarioProblems, violationTally } from './daxmon-verdict.js';
import type { DaxmonObserverOutput } from './observer-daxmon.js';
import { daxmonObserver } from './observer-daxmon.js';
import type { BootResult } from './runner.js';
import { collectScenario, planScenarios, renderScenarioJob } from './runner.js';
import { scenariosFor } from './scenarios.js';
import type { TruthContext } from './truth.js';

export const REPO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Who counts: the independent bpftrace script, or daxmon itself (`daxmon record`) with either of its
 * backends. Each observer gets its own boots, so one cannot disturb another's timing.
 */
export const OBSERVERS = ['bpftrace', 'daxmon-libbpf', 'daxmon-bpftrace'] as const;
export type ObserverName = (typeof OBSERVERS)[number];
/**
 * Default of DAXMON_VM_OBSERVER (and so of CI): the bpftrace script, whose counts do not depend on
 * daxmon, and daxmon with the backend `--backend auto` picks. daxmon-bpftrace attaches in 45-111 s
 * per boot under emulation and is selected explicitly.
 */
export const DEFAULT_OBSERVERS: readonly ObserverName[] = ['bpftrace', 'daxmon-libbpf'];

/** One boot of the matrix: a kernel, a pmem setup, an observer and the scenarios that fit it. */
export interface MatrixCase {
  label: string;
  observer: ObserverName;
  series: string;
  pmem: PmemKind;
  fs: DaxFs | undefined;
  needs: 'fs' | 'devdax';
  /** A kernel the developer built (DAXMON_VM_USER_KERNEL, DAXMON_VM_KERNEL_TREE); `series` is then
   * the Debian series whose scenario truths it is judged by (truthSeriesOf). */
  user?: { source: UserKernelSource; release: string };
}

const ALL_FS: DaxFs[] = ['ext4', 'xfs'];
const ALL_PMEM: PmemKind[] = ['memmap', 'nvdimm-fsdax', 'nvdimm-devdax'];

function list(env: string | undefined): string[] | undefined {
  const items = env
    ?.split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  return items && items.length > 0 ? items : undefined;
}

/**
 * The full matrix, narrowed by DAXMON_VM_KERNELS (e.g. `7,6.12`), DAXMON_VM_FS (`ext4,xfs`) and
 * DAXMON_VM_PMEM (`memmap,nvdimm-fsdax,nvdimm-devdax`). memmap pmem runs every kernel with both
 * filesystems; the emulated NVDIMM runs device-dax on every kernel and fsdax (xfs) on 7.x, which is
 * where the new refcount model (and so most of the risk) is.
 */
export function matrixFromEnv(env: NodeJS.ProcessEnv = process.env): MatrixCase[] {
  const user = userKernelFromEnv(env);
  // A developer's own kernel replaces Debian's, unless DAXMON_VM_KERNELS asks for those too.
  const kernels = list(env.DAXMON_VM_KERNELS) ?? (user ? [] : KERNEL_SERIES.map((k) => k.id));
  for (const k of kernels) findSeries(k);
  const fss = (list(env.DAXMON_VM_FS) ?? ALL_FS) as DaxFs[];
  for (const f of fss) {
    if (!ALL_FS.includes(f))
      throw new VmError('DAXMON_E_VM_CONFIG', `DAXMON_VM_FS: unknown filesystem ${f}; use ext4,xfs`);
  }
  const pmemList = list(env.DAXMON_VM_PMEM) as PmemKind[] | undefined;
  const pmems = pmemList ?? ALL_PMEM;
  for (const p of pmems) {
    if (!ALL_PMEM.includes(p)) {
      throw new VmError(
        'DAXMON_E_VM_CONFIG',
        `DAXMON_VM_PMEM: unknown pmem setup ${p}; use ${ALL_PMEM.join(',')}`,
      );
    }
  }
  const observers = (list(env.DAXMON_VM_OBSERVER) ?? DEFAULT_OBSERVERS) as ObserverName[];
  for (const o of observers) {
    if (!OBSERVERS.includes(o)) {
      throw new VmError(
        'DAXMON_E_VM_CONFIG',
        `DAXMON_VM_OBSERVER: unknown observer ${o}; use ${OBSERVERS.join(',')}`,
      );
    }
  }
  const cases: MatrixCase[] = [];
  for (const observer of observers) {
    // daxmon observes memmap pmem by default (the ext4/xfs matrix); the NVDIMM setups, which
    // the bpftrace observer covers, are added for it when DAXMON_VM_PMEM names them. This keeps CI's
    // VM share under its 20 minutes.
    const pm = observer === 'bpftrace' || pmemList ? pmems : (['memmap'] as PmemKind[]);
    cases.push(...casesFor(observer, kernels, fss, pm));
    if (user) {
      const series = truthSeriesOf(
        user.release,
        KERNEL_SERIES.map((k) => k.id),
      );
      for (const c of casesFor(observer, [series], fss, pm))
        cases.push({ ...c, label: c.label.replace(series, `user-${user.release}`), user });
    }
  }
  return cases;
}

/**
 * The developer's kernel the matrix runs on, the same choices as `daxmon lab`'s --kernel,
 * --modules, --config and --kernel-tree: DAXMON_VM_USER_KERNEL=IMAGE (with DAXMON_VM_USER_MODULES
 * and DAXMON_VM_USER_CONFIG) or DAXMON_VM_KERNEL_TREE=DIR.
 */
export function userKernelFromEnv(env: NodeJS.ProcessEnv): MatrixCase['user'] {
  const image = env.DAXMON_VM_USER_KERNEL?.trim();
  const tree = env.DAXMON_VM_KERNEL_TREE?.trim();
  if (image && tree)
    throw new VmError(
      'DAXMON_E_VM_CONFIG',
      'DAXMON_VM_USER_KERNEL and DAXMON_VM_KERNEL_TREE both set: give the image or the tree, not both',
    );
  if (!image && (env.DAXMON_VM_USER_MODULES || env.DAXMON_VM_USER_CONFIG))
    throw new VmError(
      'DAXMON_E_VM_CONFIG',
      'DAXMON_VM_USER_MODULES and DAXMON_VM_USER_CONFIG go with DAXMON_VM_USER_KERNEL=IMAGE',
    );
  const source: UserKernelSource | undefined = tree
    ? { tree }
    : image
      ? {
          image,
          ...(env.DAXMON_VM_USER_MODULES ? { modules: env.DAXMON_VM_USER_MODULES } : {}),
          ...(env.DAXMON_VM_USER_CONFIG ? { config: env.DAXMON_VM_USER_CONFIG } : {}),
        }
      : undefined;
  return source ? { source, release: userKernelRelease(source) } : undefined;
}

function casesFor(
  observer: ObserverName,
  kernels: readonly string[],
  fss: readonly DaxFs[],
  pmems: readonly PmemKind[],
): MatrixCase[] {
  const cases: MatrixCase[] = [];
  for (const series of kernels) {
    if (pmems.includes('memmap')) {
      for (const fs of fss)
        cases.push({
          label: `${series}/memmap/${fs}/${observer}`,
          observer,
          series,
          pmem: 'memmap',
          fs,
          needs: 'fs',
        });
    }
    if (pmems.includes('nvdimm-fsdax') && series === '7' && fss.includes('xfs')) {
      cases.push({
        label: `${series}/nvdimm-fsdax/xfs/${observer}`,
        observer,
        series,
        pmem: 'nvdimm-fsdax',
        fs: 'xfs',
        needs: 'fs',
      });
    }
    if (pmems.includes('nvdimm-devdax')) {
      cases.push({
        label: `${series}/nvdimm-devdax/${observer}`,
        observer,
        series,
        pmem: 'nvdimm-devdax',
        fs: undefined,
        needs: 'devdax',
      });
    }
  }
  return cases;
}

export function scenarioFilter(env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  return list(env.DAXMON_VM_SCENARIOS);
}

export interface RunCaseOptions {
  cacheDir?: string;
  log?: Logger;
  scenarios?: readonly string[];
}

/** Boots one matrix case, runs its scenarios under the case's observer and compares each. */
export async function runCase(c: MatrixCase, opts: RunCaseOptions = {}): Promise<BootResult> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  assertCacheOutsideRepo(cacheDir, REPO_DIR);
  const kernel = c.user
    ? await ensureUserKernel(c.user.source, { cacheDir, ...(opts.log ? { log: opts.log } : {}) })
    : await ensureKernel(c.series, { cacheDir, log: opts.log });
  const daxwl = await buildDaxwl(cacheDir);
  const observer: Observer =
    c.observer === 'bpftrace'
      ? bpftraceObserver({ daxwl })
      : daxmonObserver({
          repoDir: REPO_DIR,
          backend: c.observer === 'daxmon-libbpf' ? 'libbpf' : 'bpftrace',
          unseenGetRelease: (base) =>
            plan.find((p) => p.base === base)?.scenario.unseenGetRelease?.(ctx) !== undefined,
        });
  const plan = planScenarios(scenariosFor(c.needs, opts.scenarios));
  const ctx: TruthContext = { model: kernel.model, series: c.series, pmem: c.pmem, fs: c.fs };
  const guest: GuestRun = await runGuest({
    kernel,
    pmem: c.pmem,
    fs: c.fs,
    job: renderScenarioJob(plan, observer, daxwl),
    shares: [
      { hostPath: REPO_DIR, readonly: true },
      { hostPath: dirname(daxwl), readonly: true },
    ],
    cacheDir,
    label: c.label.replace(/\//g, '-'),
    log: opts.log,
    onConsoleLine:
      process.env.DAXMON_VM_CONSOLE === '1' ? (l) => process.stderr.write(`[${c.label}] ${l}\n`) : undefined,
  });
  const obs = await observer.collect(guest.resultsDir);
  const findings = 'daxmon' in obs ? (obs as DaxmonObserverOutput).daxmon : undefined;
  const scenarios = [];
  for (const p of plan) {
    const r = await collectScenario(p, guest.resultsDir, ctx, obs);
    if (findings && r.status !== 'skipped') {
      const v = daxmonScenarioProblems(p, ctx, findings);
      r.problems.push(...v.problems);
      r.comparison?.notCovered.push(...v.notCovered);
      if (r.problems.length > 0) r.status = 'failed';
    }
    scenarios.push(r);
  }
  return {
    guest,
    ctx,
    observer: observer.name,
    observerOutput: obs,
    bootProblems: findings ? daxmonBootProblems(findings) : [],
    ...(findings ? { violations: violationTally(plan, ctx, findings) } : {}),
    idleCounts: obs.counts.get(0) ?? {},
    scenarios,
  };
}

export function resultsReportPath(cacheDir: string = defaultCacheDir()): string {
  return join(cacheDir, 'reports', `vm-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
}
