import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { mkdir, open, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildCmdline } from './cmdline.js';
import { LineSplitter, classifyConsoleLine } from './console.js';
import { VmError } from './errors.js';
import { GUEST_LIB } from './guest-lib.js';
import { ensureInitramfs } from './initramfs.js';
import { renderGuestEnv, renderInitScript } from './init-script.js';
import type { Share } from './init-script.js';
import type { KernelBuild } from './kernels.js';
import type { Logger } from './log.js';
import { defaultLogger } from './log.js';
import { defaultCacheDir } from './paths.js';
import { planPmem } from './pmem.js';
import type { DaxFs, PmemKind } from './pmem.js';
import { freePort } from './ports.js';
import { buildQemuArgs, launchQemu } from './qemu.js';
import { HOSTROOT_TAG, RESULTS_TAG } from './markers.js';
import { requireTools } from './tools.js';

export interface GuestOptions {
  kernel: KernelBuild;
  pmem: PmemKind;
  /** Filesystem made on the pmem (memmap, nvdimm-fsdax). */
  fs?: DaxFs;
  /**
   * Shell run in the guest (dash, chrooted in the host's root) after pmem is set up. It sees
   * $DAXMON_RESULTS (the writable results folder, same path as on the host), $DAX_MNT, $DAX_DEV,
   * $DAX_CHARDEV, $DAX_FS, $DAX_ND_DEV and the daxmon_* helpers from guest-lib.ts.
   */
  job: string;
  /** Host folders mounted at the same absolute path in the guest (the repo, a build folder). */
  shares?: Share[];
  /** Guest TCP ports to forward from free ports on the host's 127.0.0.1. */
  forwardPorts?: number[];
  /** More kernel command line words (a `memmap=SIZE$START` reservation for test_hmm's coherent mode). */
  extraCmdline?: readonly string[];
  memoryMiB?: number;
  cpus?: number;
  cacheDir?: string;
  /** Label used in the run folder's name. */
  label?: string;
  bootTimeoutMs?: number;
  /** From the ready marker to the end of the job; Infinity for none (the lab). */
  jobTimeoutMs?: number;
  maxBootAttempts?: number;
  log?: Logger;
  signal?: AbortSignal;
  onReady?: (info: { hostPorts: Record<number, number>; runDir: string }) => void;
  onConsoleLine?: (line: string) => void;
  /**
   * Each boot stage as the console reports it. Without it, runGuest logs one plain line per stage,
   * so a slow boot in CI shows where it is.
   */
  onStage?: (s: StageReport) => void;
}

/** Boot and job stages, in order: qemu started, the initramfs runs, the guest is up, the job runs. */
export type GuestStage = 'kernel' | 'initramfs' | 'guest-up' | 'job' | 'pmem-ready';

export interface StageReport {
  stage: GuestStage;
  attempt: number;
  /** Host seconds since this attempt's qemu started. */
  seconds: number;
  guestUptimeSeconds: number | undefined;
}

/** The console's `DAXMON_STAGE` names (init-script.ts, renderJob) as stages. */
const CONSOLE_STAGES: Record<string, GuestStage> = {
  modules: 'initramfs',
  job: 'job',
  'pmem-ready': 'pmem-ready',
};

export type AttemptOutcome = 'ready' | 'panic' | 'boot-timeout' | 'exited-early' | 'port-busy';

export interface BootAttempt {
  attempt: number;
  outcome: AttemptOutcome;
  seconds: number;
  consoleLog: string;
  detail?: string;
}

export type GuestStatus = 'done' | 'timeout' | 'aborted' | 'panic' | 'exited';

export interface GuestRun {
  status: GuestStatus;
  /** Exit code of the job script (DAXMON_DONE rc=N), when it finished. */
  jobExitCode: number | undefined;
  kernelRelease: string;
  pmem: PmemKind;
  fs: DaxFs | undefined;
  runDir: string;
  resultsDir: string;
  /** Console log of the boot that reached the ready marker (or of the last attempt). */
  consoleLog: string;
  /** Host wall time from qemu start to the ready marker. */
  bootSeconds: number | undefined;
  /** Guest uptime when it printed the ready marker. */
  guestBootSeconds: number | undefined;
  /** Ready marker to job end. */
  jobSeconds: number | undefined;
  totalSeconds: number;
  /** qemu exited by itself with status 0: the guest powered off, the host killed nothing. */
  poweredOff: boolean;
  /** Boots that had to be retried (panicked, hung or exited before ready). */
  retries: number;
  attempts: BootAttempt[];
  hostPorts: Record<number, number>;
  /** Kernel WARNING lines seen on the console after ready. */
  kernelWarnings: string[];
  /** Oops lines (BUG:, general protection fault) seen after ready; the guest went on. */
  kernelOopses: string[];
  panic: string | undefined;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  const n = v ? Number.parseInt(v, 10) : Number.NaN;
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

export function renderJob(setup: string, job: string): string {
  return `#!/bin/sh
${GUEST_LIB}
echo "DAXMON_STAGE job $(cut -d' ' -f1 /proc/uptime) $(uname -r)"
uname -r > "$DAXMON_RESULTS/uname"
${setup}
echo "DAXMON_STAGE pmem-ready $(cut -d' ' -f1 /proc/uptime)"
${job}
`;
}

interface AttemptResult {
  outcome:
    | AttemptOutcome
    | 'done'
    | 'timeout'
    | 'aborted'
    | 'panic-after-ready'
    | 'exited-after-ready'
    | 'boot-failed';
  readyAtMs?: number;
  guestBootSeconds?: number;
  doneAtMs?: number;
  rc?: number;
  panic?: string;
  detail?: string;
  warnings: string[];
  oopses: string[];
  /** Set when qemu has exited: it exited 0 by itself (the guest powered off). */
  poweredOff?: boolean;
}

/**
 * Boots a guest, runs one job in it and returns when the guest has powered off (or was killed).
 * A boot that panics, hangs or exits before the ready marker is retried; after ready nothing is
 * retried, because a panic then is a result, not a flake. qemu never outlives this call.
 */
export async function runGuest(opts: GuestOptions): Promise<GuestRun> {
  await requireTools(['qemu-system-x86_64']);
  const log = opts.log ?? defaultLogger;
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const memoryMiB = opts.memoryMiB ?? envInt('DAXMON_VM_MEM_MIB', 4096);
  const cpus = opts.cpus ?? envInt('DAXMON_VM_CPUS', 2);
  const bootTimeoutMs = opts.bootTimeoutMs ?? envInt('DAXMON_VM_BOOT_TIMEOUT_MS', 120_000);
  const jobTimeoutMs = opts.jobTimeoutMs ?? envInt('DAXMON_VM_JOB_TIMEOUT_MS', 20 * 60_000);
  const maxAttempts = opts.maxBootAttempts ?? envInt('DAXMON_VM_BOOT_ATTEMPTS', 4);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const runDir = join(
    cacheDir,
    'runs',
    `${stamp}-${opts.kernel.release}-${opts.label ?? opts.pmem}-${randomBytes(3).toString('hex')}`,
  );
  const resultsDir = join(runDir, 'results');
  await mkdir(resultsDir, { recursive: true });
  const plan = planPmem({
    kind: opts.pmem,
    fs: opts.fs,
    memoryMiB,
    nvdimmImage: opts.pmem === 'memmap' ? undefined : join(runDir, 'nvdimm.img'),
  });
  const initramfs = await ensureInitramfs({ kernel: opts.kernel, init: renderInitScript(), cacheDir });
  const shares = opts.shares ?? [];
  const env = renderGuestEnv({
    resultsPath: resultsDir,
    shares,
    network: (opts.forwardPorts ?? []).length > 0,
  });
  await writeFile(join(resultsDir, 'guest.env'), env.text);
  await writeFile(join(resultsDir, 'job.sh'), renderJob(plan.guestSetup, opts.job), { mode: 0o755 });

  const t0 = Date.now();
  const attempts: BootAttempt[] = [];
  let final: AttemptResult | undefined;
  let hostPorts: Record<number, number> = {};
  let consoleLog = '';
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    if (opts.signal?.aborted) break;
    await clearResults(resultsDir);
    if (plan.imageFile) await makeSparse(plan.imageFile.path, plan.imageFile.sizeBytes);
    hostPorts = {};
    for (const p of opts.forwardPorts ?? []) hostPorts[p] = await freePort();
    consoleLog = join(runDir, `console-${attempt}.log`);
    const args = buildQemuArgs({
      kernel: opts.kernel.vmlinuz,
      initrd: initramfs.path,
      cmdline: buildCmdline({ pmem: plan.cmdline, extra: opts.extraCmdline ?? [] }),
      machine: plan.machine,
      memoryArg: plan.memoryArg,
      cpus,
      shares: [
        { tag: HOSTROOT_TAG, hostPath: '/', readonly: true },
        { tag: RESULTS_TAG, hostPath: resultsDir, readonly: false },
        ...env.tags.map((t) => ({ tag: t.tag, hostPath: t.share.hostPath, readonly: t.share.readonly })),
      ],
      forwards: Object.entries(hostPorts).map(([g, h]) => ({ guestPort: Number(g), hostPort: h })),
      extraArgs: plan.qemuArgs,
    });
    const tA = Date.now();
    log(
      `boot ${opts.kernel.release} ${opts.pmem}${opts.fs ? `/${opts.fs}` : ''} attempt ${attempt}/${maxAttempts}`,
    );
    const onStage =
      opts.onStage ??
      ((st: StageReport) =>
        log(
          `${opts.kernel.release} ${opts.label ?? opts.pmem} attempt ${st.attempt}: ${st.stage} at ${st.seconds.toFixed(1)} s`,
        ));
    const r = await runAttempt(
      args,
      consoleLog,
      bootTimeoutMs,
      jobTimeoutMs,
      opts,
      hostPorts,
      runDir,
      (stage, up) => onStage({ stage, attempt, seconds: (Date.now() - tA) / 1000, guestUptimeSeconds: up }),
    );
    const seconds = (Date.now() - tA) / 1000;
    if (
      r.outcome === 'panic' ||
      r.outcome === 'boot-timeout' ||
      r.outcome === 'exited-early' ||
      r.outcome === 'port-busy'
    ) {
      attempts.push({ attempt, outcome: r.outcome, seconds, consoleLog, detail: r.detail });
      log(
        `boot attempt ${attempt} failed (${r.outcome}${r.detail ? `: ${r.detail}` : ''}); console: ${consoleLog}`,
      );
      final = r;
      continue;
    }
    attempts.push({ attempt, outcome: 'ready', seconds, consoleLog });
    final = r;
    break;
  }
  if (plan.imageFile) await rm(plan.imageFile.path, { force: true });
  const totalSeconds = (Date.now() - t0) / 1000;
  if (!final || final.readyAtMs === undefined) {
    if (opts.signal?.aborted) {
      return summarize('aborted');
    }
    if (final?.outcome === 'boot-failed') {
      throw new VmError(
        'DAXMON_E_VM_BOOT',
        `the guest init gave up: ${final.detail ?? 'unknown reason'}; see ${consoleLog}`,
      );
    }
    throw new VmError(
      'DAXMON_E_VM_BOOT',
      `no boot reached the ready marker in ${attempts.length} attempt(s) (${attempts.map((a) => a.outcome).join(', ')}); see ${consoleLog}. Set DAXMON_VM_BOOT_TIMEOUT_MS if the machine is just slow.`,
    );
  }
  const status: GuestStatus =
    final.outcome === 'done'
      ? 'done'
      : final.outcome === 'timeout'
        ? 'timeout'
        : final.outcome === 'aborted'
          ? 'aborted'
          : final.outcome === 'panic-after-ready'
            ? 'panic'
            : 'exited';
  return summarize(status);

  function summarize(status: GuestStatus): GuestRun {
    const ready = final?.readyAtMs;
    return {
      status,
      jobExitCode: final?.rc,
      kernelRelease: opts.kernel.release,
      pmem: opts.pmem,
      fs: opts.pmem === 'nvdimm-devdax' ? undefined : (opts.fs ?? 'ext4'),
      runDir,
      resultsDir,
      consoleLog,
      bootSeconds: ready !== undefined ? ready / 1000 : undefined,
      guestBootSeconds: final?.guestBootSeconds,
      jobSeconds:
        ready !== undefined && final?.doneAtMs !== undefined ? (final.doneAtMs - ready) / 1000 : undefined,
      totalSeconds,
      poweredOff: final?.poweredOff ?? false,
      retries: Math.max(0, attempts.length - 1),
      attempts,
      hostPorts,
      kernelWarnings: final?.warnings ?? [],
      kernelOopses: final?.oopses ?? [],
      panic: final?.panic,
    };
  }
}

async function clearResults(dir: string): Promise<void> {
  for (const n of await readdir(dir)) {
    if (n === 'guest.env' || n === 'job.sh') continue;
    await rm(join(dir, n), { recursive: true, force: true });
  }
}

async function makeSparse(path: string, size: number): Promise<void> {
  await rm(path, { force: true });
  const fh = await open(path, 'w');
  try {
    await fh.truncate(size);
  } finally {
    await fh.close();
  }
}

function runAttempt(
  args: string[],
  consoleLog: string,
  bootTimeoutMs: number,
  jobTimeoutMs: number,
  opts: GuestOptions,
  hostPorts: Record<number, number>,
  runDir: string,
  onStage: (stage: GuestStage, guestUptimeSeconds: number | undefined) => void,
): Promise<AttemptResult> {
  return new Promise<AttemptResult>((resolve) => {
    const out: WriteStream = createWriteStream(consoleLog);
    const splitter = new LineSplitter();
    const start = Date.now();
    const warnings: string[] = [];
    const oopses: string[] = [];
    let result: AttemptResult | undefined;
    let readyAtMs: number | undefined;
    let guestBootSeconds: number | undefined;
    let timer: NodeJS.Timeout | undefined;
    const finish = (
      r: Omit<AttemptResult, 'warnings' | 'oopses' | 'readyAtMs' | 'guestBootSeconds'>,
      graceMs = 0,
    ): void => {
      if (result) return;
      result = { ...r, readyAtMs, guestBootSeconds, warnings, oopses };
      // qemu is killed as soon as the outcome is known (after a grace period that lets a panic's
      // trace reach the log); its exit completes the promise.
      if (graceMs > 0) setTimeout(kill, graceMs);
      else kill();
    };
    const onLine = (line: string): void => {
      opts.onConsoleLine?.(line);
      const ev = classifyConsoleLine(line);
      if (!ev) return;
      if (ev.kind === 'ready' && readyAtMs === undefined) {
        readyAtMs = Date.now() - start;
        guestBootSeconds = ev.guestUptimeSeconds;
        if (timer) clearTimeout(timer);
        // setTimeout fires at once for delays past 2^31-1 ms: an unlimited job gets no timer.
        if (Number.isFinite(jobTimeoutMs) && jobTimeoutMs < MAX_TIMER_MS) {
          timer = setTimeout(
            () => finish({ outcome: 'timeout', detail: `job ran past ${jobTimeoutMs} ms` }),
            jobTimeoutMs,
          );
        }
        onStage('guest-up', ev.guestUptimeSeconds);
        opts.onReady?.({ hostPorts, runDir });
      } else if (ev.kind === 'stage') {
        const stage = CONSOLE_STAGES[ev.stage];
        if (stage) onStage(stage, ev.guestUptimeSeconds);
      } else if (ev.kind === 'panic' || (ev.kind === 'oops' && readyAtMs === undefined)) {
        // Before ready any oops is the early-boot flake (it ends in a panic): retry. After ready a
        // panic is a result; give its trace a few seconds to reach the log.
        if (readyAtMs === undefined) finish({ outcome: 'panic', detail: ev.line });
        else finish({ outcome: 'panic-after-ready', panic: ev.line }, 3000);
      } else if (ev.kind === 'oops') {
        oopses.push(ev.line);
      } else if (ev.kind === 'boot-failed') {
        finish({ outcome: 'boot-failed', detail: ev.reason });
      } else if (ev.kind === 'done') {
        // Let the guest power itself off (it syncs first); the exit handler below resolves.
        if (!result)
          result = {
            outcome: 'done',
            rc: ev.rc,
            doneAtMs: Date.now() - start,
            readyAtMs,
            guestBootSeconds,
            warnings,
            oopses,
          };
        if (timer) clearTimeout(timer);
        timer = setTimeout(kill, 30_000);
      } else if (ev.kind === 'warning' && readyAtMs !== undefined) {
        warnings.push(ev.line);
      }
    };
    let killedByHost = false;
    const kill = (): void => {
      killedByHost = true;
      qemu.kill();
    };
    const qemu = launchQemu(args, (chunk) => {
      out.write(chunk);
      for (const l of splitter.push(chunk)) onLine(l);
    });
    onStage('kernel', undefined);
    timer = setTimeout(
      () => finish({ outcome: 'boot-timeout', detail: `no ready marker after ${bootTimeoutMs} ms` }),
      bootTimeoutMs,
    );
    const onAbort = (): void => finish({ outcome: 'aborted' });
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    void qemu.exited.then((ex) => {
      for (const l of splitter.flush()) onLine(l);
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (!result) {
        const portBusy = /Could not set up host forwarding rule/.test(ex.stderr);
        const detail = `qemu exited (${ex.signal ?? `code ${ex.code}`}) ${ex.stderr.trim().split('\n').slice(-2).join(' | ')}`;
        if (readyAtMs === undefined)
          result = { outcome: portBusy ? 'port-busy' : 'exited-early', detail, warnings, oopses };
        else
          result = { outcome: 'exited-after-ready', detail, readyAtMs, guestBootSeconds, warnings, oopses };
      }
      result.poweredOff = !killedByHost && ex.signal === undefined && ex.code === 0;
      if (ex.stderr.trim().length > 0) out.write(`\n[qemu stderr] ${ex.stderr}`);
      out.end(() => resolve(result as AttemptResult));
    });
  });
}
