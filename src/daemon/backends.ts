/**
 * The probe backends of a daemon: which of them can run on this kernel, one supervisor for each
 * (src/probes/supervisor.ts restarts it and turns its exits into events), and what is shown of
 * them: to the metrics (up, restarts, the probes asked for), to the API (/api/state, with the
 * backends that could not run and why), and as `probe_status` events for the probes a launch
 * knows up front it cannot attach.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import { monotonicNs } from '../clock.js';
import { DaxmonError, codeIn, isDaxmonError } from '../errors.js';
import type { BackendName, DaxEvent } from '../events/types.js';
import type { KernelFacts } from '../kernel/facts.js';
import type { BackendHealth } from '../metrics/registry.js';
import { PACKAGE_ROOT } from '../package-root.js';
import type { Backend, BackendLaunch, BackendLog } from '../probes/backend.js';
import type { BackendChoice } from '../probes/select.js';
import { BackendSupervisor, type BackendFailure } from '../probes/supervisor.js';

/** A backend that was asked for (or tried by `auto`) and cannot run here. */
export interface UnavailableBackend {
  backend: string;
  reason: string;
}

/** One backend as /api/state shows it. */
export interface BackendStatus {
  backend: string;
  up: boolean;
  restarts: number;
  lastExit: BackendSupervisor['lastExit'];
  gaveUp?: boolean;
  unavailable?: string;
}

export interface BackendsOptions {
  choice: BackendChoice;
  strict: boolean;
  facts: KernelFacts;
  catalog: Partial<Record<BackendName, Backend>>;
  ingest: (e: DaxEvent) => void;
  log: Logger;
}

export class Backends {
  readonly supervisors: BackendSupervisor[];
  readonly unavailable: UnavailableBackend[] = [];
  /**
   * Settles with the failure `--strict` ends daxmon with: a backend whose plan is refused or whose
   * process exits is not restarted then (without --strict it is, with backoff, and this never settles).
   */
  readonly failed: Promise<DaxmonError>;

  constructor(o: BackendsOptions) {
    const chosen = chooseBackends(o.choice, o.facts, o.catalog, this.unavailable);
    const log = backendLog(o.log);
    let fail: (e: DaxmonError) => void = () => undefined;
    this.failed = new Promise((resolve) => (fail = resolve));
    this.supervisors = chosen.map(
      (b) =>
        new BackendSupervisor({
          backend: b.name,
          emit: o.ingest,
          log,
          plan: () => planLaunch(b, o),
          ...(o.strict ? { maxConsecutiveFailures: 1, onGiveUp: (f) => fail(strictFailure(f)) } : {}),
        }),
    );
    if (chosen.length > 0) return;
    for (const u of this.unavailable)
      o.log.warn(
        { backend: u.backend, code: codeIn(u.reason) },
        `backend ${u.backend} unavailable: ${u.reason}`,
      );
    if (o.strict)
      throw new DaxmonError(
        'DAXMON_E_NO_BACKEND',
        `--strict: no probe backend can run here (${this.unavailableList()})`,
      );
  }

  get names(): BackendName[] {
    return this.supervisors.map((s) => s.backend);
  }

  /** `backend: reason; …` of the backends that cannot run. */
  unavailableList(): string {
    return this.unavailable.map((u) => `${u.backend}: ${u.reason}`).join('; ');
  }

  start(): void {
    for (const s of this.supervisors) s.start();
  }

  /** Stop every backend process; resolves once they exited and their last events were ingested. */
  async stop(): Promise<void> {
    await Promise.all(this.supervisors.map((s) => s.stop()));
  }

  /** For the metrics (daxmon_backend_up, daxmon_backend_restarts_total, daxmon_probe_attached). */
  health(): BackendHealth[] {
    return this.supervisors.map((s) => ({
      backend: s.backend,
      up: s.up,
      restarts: s.restarts,
      probes: s.probes,
    }));
  }

  /** For /api/state: the supervised backends, then the ones that cannot run. */
  status(): BackendStatus[] {
    return [
      ...this.supervisors.map((s) => ({
        backend: s.backend as string,
        up: s.up,
        restarts: s.restarts,
        lastExit: s.lastExit,
        gaveUp: s.gaveUp,
      })),
      ...this.unavailable.map((u) => ({
        backend: u.backend,
        up: false,
        restarts: 0,
        lastExit: null,
        unavailable: u.reason,
      })),
    ];
  }
}

/**
 * The error `--strict` exits with when a backend failed: the code of the failure itself where it
 * has one (the plan's DaxmonError, the loader's `DAXMON_E_LOADER_…` line), and in the message the
 * backend, how it ended and the probes that did not attach.
 */
export function strictFailure(f: BackendFailure): DaxmonError {
  if (isDaxmonError(f.planError)) {
    return new DaxmonError(f.planError.code, `${f.backend}: ${f.planError.message}`);
  }
  const probes = f.notAttached.length
    ? f.notAttached.map((p) => `${p.probe} (${p.detail})`).join('; ')
    : 'none reported before it ended';
  const said = f.stderr ? ` (${f.stderr.line})` : '';
  return new DaxmonError(
    f.stderr?.code ?? 'DAXMON_E_STRICT_BACKEND',
    `--strict: backend ${f.backend}: ${f.reason}${said}; probes not attached: ${probes}`,
  );
}

/** `auto` takes the first of libbpf, bpftrace that can run here; a named one is that or none. */
export function chooseBackends(
  choice: BackendChoice,
  facts: KernelFacts,
  catalog: Partial<Record<BackendName, Backend>>,
  unavailable: UnavailableBackend[],
): Backend[] {
  if (choice === 'none') return [];
  const order: BackendName[] = choice === 'auto' ? ['libbpf', 'bpftrace'] : [choice];
  for (const name of order) {
    const b = catalog[name];
    if (!b) {
      unavailable.push({ backend: name, reason: 'not built into this daxmon' });
      continue;
    }
    const a = b.available(facts);
    if (a.ok) return [b];
    unavailable.push({ backend: name, reason: a.reason });
  }
  return [];
}

/**
 * Plan one start of backend `b` (every restart plans afresh). The probes the plan already knows
 * it cannot attach are reported as `probe_status` events, so the state, the checks' activity and
 * /readyz know them before the process says anything.
 */
function planLaunch(b: Backend, o: BackendsOptions): BackendLaunch {
  const launch = b.plan(o.facts, {
    strict: o.strict,
    bpfBuildDir: path.join(PACKAGE_ROOT, 'bpf', 'build'),
    bpftraceDir: path.join(PACKAGE_ROOT, 'bpf', 'bpftrace'),
  });
  for (const u of launch.unavailable) {
    o.ingest({
      type: 'probe_status',
      t: monotonicNs(),
      pid: process.pid,
      comm: 'daxmon',
      backend: b.name,
      probe: u.probe,
      attached: false,
      detail: u.reason,
    });
    o.log.warn(
      { backend: b.name, probe: u.probe, code: codeIn(u.reason) },
      `probe ${u.probe} unavailable: ${u.reason}`,
    );
  }
  for (const u of launch.notApplicable ?? []) {
    o.log.info({ backend: b.name, probe: u.probe }, `probe ${u.probe} not used: ${u.reason}`);
  }
  return launch;
}

function backendLog(log: Logger): BackendLog {
  return {
    debug: (m, f) => log.debug(f ?? {}, m),
    info: (m, f) => log.info(f ?? {}, m),
    warn: (m, f) => log.warn(f ?? {}, m),
    error: (m, f) => log.error(f ?? {}, m),
  };
}
