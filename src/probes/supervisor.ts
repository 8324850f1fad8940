/**
 * Runs one backend process and keeps it running: spawns it (execa), feeds its stdout to the
 * backend's decoder and its stderr lines to the backend, and when it exits — crash, kill, OOM —
 * records the gap as a `backend_stopped` event (so the state marks what it believed uncertain)
 * and restarts it with exponential backoff. Stopping sends SIGTERM, then SIGKILL after a grace
 * period: a bpftrace that ignores SIGINT once hung a guest here.
 */
import { execa, type ResultPromise } from 'execa';
import type { ErrorCode } from '../errors/catalogue.js';
import { codeIn, errorLogFields, type ErrorLogFields } from '../errors/log-fields.js';
import type { BackendName, DaxEvent } from '../events/types.js';
import type { BackendLaunch, BackendLog, Emit } from './backend.js';
import { monotonicNs } from '../clock.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export interface SupervisorOptions {
  backend: BackendName;
  /** Plans a fresh launch (new decoder) for every start. */
  plan: () => BackendLaunch;
  emit: Emit;
  log: BackendLog;
  /** First restart delay; doubles per consecutive failure up to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** A run that lasted this long resets the backoff. */
  healthyAfterMs?: number;
  /** SIGTERM → SIGKILL grace period on stop. */
  killGraceMs?: number;
  /** Give up after this many consecutive failed starts (null: never). */
  maxConsecutiveFailures?: number | null;
  /** Called once when it gives up (`--strict` gives up at the first failure and exits with it). */
  onGiveUp?: (failure: BackendFailure) => void;
  version?: string;
}

/** The failure a supervisor gave up on, with what is known of why. */
export interface BackendFailure {
  backend: BackendName;
  reason: string;
  exitCode: number | null;
  signal: string | null;
  /** The error a plan threw (its code is the failure's). */
  planError?: unknown;
  /** The last line of the process's stderr that carried a catalogue code, and that code. */
  stderr?: { line: string; code: ErrorCode };
  /** Probes this launch reported as not attached (probe_status attached: false), with why. */
  notAttached: { probe: string; detail: string }[];
}

export class BackendSupervisor {
  readonly backend: BackendName;
  restarts = 0;
  up = false;
  /** Probes of the current launch. */
  probes: string[] = [];
  lastExit: { code: number | null; signal: string | null; reason: string } | null = null;
  gaveUp = false;
  private child: ResultPromise | null = null;
  private stopping = false;
  private timer: NodeJS.Timeout | null = null;
  private consecutiveFailures = 0;
  private readonly o: Required<Omit<SupervisorOptions, 'maxConsecutiveFailures' | 'version' | 'onGiveUp'>> & {
    maxConsecutiveFailures: number | null;
    version: string;
    onGiveUp?: (failure: BackendFailure) => void;
  };
  /** What the current launch said about itself, for a give-up's report. */
  private notAttached = new Map<string, string>();
  private codedStderr: { line: string; code: ErrorCode } | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(opts: SupervisorOptions) {
    this.backend = opts.backend;
    this.o = {
      initialBackoffMs: 500,
      maxBackoffMs: 30_000,
      healthyAfterMs: 60_000,
      killGraceMs: 3_000,
      maxConsecutiveFailures: null,
      version: 'unknown',
      ...opts,
    };
  }

  start(): void {
    this.stopping = false;
    this.spawn();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const child = this.child;
    if (child) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), this.o.killGraceMs);
      await this.exited;
      clearTimeout(killer);
    }
  }

  private spawn(): void {
    let launch: BackendLaunch;
    try {
      launch = this.o.plan();
    } catch (err) {
      // A plan that throws is a DaxmonError with a code (--strict and a probe that cannot attach,
      // no probe at all): the code goes on every line that reports it.
      const fields = errorLogFields(err);
      this.o.log.error(`${this.backend}: cannot plan the backend: ${fields.err}`, { ...fields });
      this.scheduleRestart(`plan failed: ${fields.err}`, null, null, fields, err);
      return;
    }
    this.probes = launch.probes;
    const notAttached = (this.notAttached = new Map());
    this.codedStderr = undefined;
    const startedAt = Date.now();
    const child = execa(launch.command, launch.args, {
      buffer: false,
      stdin: 'ignore',
      reject: false,
      env: launch.env ?? {},
      extendEnv: true,
      cleanup: true,
    });
    this.child = child;
    this.up = true;
    this.emitMeta({ type: 'backend_started', backend: this.backend, version: this.o.version });
    const out: Emit = this.o.emit;
    // One comparison per event: the probes a launch says did not attach are what --strict reports.
    const emit: Emit = (e) => {
      if (e.type === 'probe_status' && !e.attached) notAttached.set(e.probe, e.detail);
      out(e);
    };
    const log = this.o.log;
    const onStderrLine = (line: string) => {
      const code = codeIn(line);
      if (code) this.codedStderr = { line: line.trim(), code };
      launch.onStderrLine(line, emit, log);
    };
    child.stdout.on('data', (chunk: Buffer) => {
      try {
        launch.stdout.push(chunk, emit);
      } catch (err) {
        // A corrupt stream cannot be resynchronised: restart the process.
        const fields = errorLogFields(err);
        log.error(`${this.backend}: ${fields.err}; restarting it`, { ...fields });
        child.kill('SIGTERM');
      }
    });
    let errCarry = '';
    child.stderr.on('data', (chunk: Buffer) => {
      const text = errCarry + chunk.toString('utf8');
      const lines = text.split('\n');
      errCarry = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) onStderrLine(line);
    });
    this.exited = child.then(
      (result) => {
        if (errCarry.trim()) onStderrLine(errCarry);
        launch.stdout.end(emit);
        this.up = false;
        this.child = null;
        const code = result.exitCode ?? null;
        const signal = result.signal ?? null;
        const reason = this.stopping
          ? 'stopped by daxmon'
          : result.failed && result.exitCode === undefined && !signal
            ? `could not start ${launch.command}: ${result.shortMessage}`
            : `exited${code !== null ? ` with code ${code}` : ''}${signal ? ` on ${signal}` : ''}`;
        this.lastExit = { code, signal, reason };
        this.emitMeta({ type: 'backend_stopped', backend: this.backend, reason, exitCode: code, signal });
        if (this.stopping) return;
        if (Date.now() - startedAt >= this.o.healthyAfterMs) this.consecutiveFailures = 0;
        this.scheduleRestart(reason, code, signal);
      },
      () => undefined,
    );
  }

  /**
   * `exitCode` is the process's; `error` the failure that kept it from starting, whose `code` (the
   * catalogue's) is the field a log search matches on, so the exit status is not called `code`.
   */
  private scheduleRestart(
    reason: string,
    exitCode: number | null,
    signal: string | null,
    error?: ErrorLogFields,
    planError?: unknown,
  ): void {
    this.consecutiveFailures++;
    const max = this.o.maxConsecutiveFailures;
    if (max !== null && this.consecutiveFailures >= max) {
      this.gaveUp = true;
      this.o.log.error(
        `${this.backend}: ${reason}; giving up after ${max} consecutive failures (exit code ${exitCode}, signal ${signal})`,
        { ...error, exitCode, signal },
      );
      this.o.onGiveUp?.({
        backend: this.backend,
        reason,
        exitCode,
        signal,
        ...(planError !== undefined ? { planError } : {}),
        ...(this.codedStderr && planError === undefined ? { stderr: this.codedStderr } : {}),
        notAttached:
          planError === undefined ? [...this.notAttached].map(([probe, detail]) => ({ probe, detail })) : [],
      });
      return;
    }
    const delay = Math.min(
      this.o.maxBackoffMs,
      this.o.initialBackoffMs * 2 ** (this.consecutiveFailures - 1),
    );
    this.o.log.warn(`${this.backend}: ${reason}; restarting in ${delay} ms`, { ...error, exitCode, signal });
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.stopping) return;
      this.restarts++;
      this.spawn();
    }, delay);
  }

  private emitMeta(
    e: DistributiveOmit<
      Extract<DaxEvent, { type: 'backend_started' | 'backend_stopped' }>,
      't' | 'pid' | 'comm'
    >,
  ) {
    this.o.emit({ ...e, t: monotonicNs(), pid: process.pid, comm: 'daxmon' });
  }
}
