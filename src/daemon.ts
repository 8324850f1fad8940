/**
 * `daxmon run` / `daxmon record`: reads the host, builds the pipeline, restores the journal,
 * starts the probe backends under supervision, serves HTTP, and shuts all of it down in order on
 * SIGTERM/SIGINT (backends first, so their last events are still journaled; then the journal).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino, { type Logger } from 'pino';
import type { CheckConfig } from './checks/types.js';
import { discoverPgmaps } from './discovery.js';
import { DaxmonError, codeIn, errorLogFields } from './errors.js';
import { createRecordingEncoder, recordingFormatFor, type RecordingFormat } from './events/recording.js';
import type { BackendName, DaxEvent, RefcountModel } from './events/types.js';
import type { KernelFacts } from './kernel/facts.js';
import { gatherKernelFacts } from './kernel/gather.js';
import { DaxmonMetrics, type BackendHealth } from './metrics/registry.js';
import { buildPipeline } from './pipeline.js';
import type { Backend, BackendLog } from './probes/backend.js';
import { monotonicNs } from './probes/libbpf/records.js';
import { availableBackends, type BackendChoice } from './probes/select.js';
import { BackendSupervisor } from './probes/supervisor.js';
import { Scanner } from './scan/scanner.js';
import { ScanService, type ScanConfig } from './scan/service.js';
import { buildServer, type Readiness } from './server/app.js';
import { Journal, nextIdAfter, type FsyncPolicy } from './violations/journal.js';
import { ViolationStore } from './violations/store.js';
import type { Violation, ViolationUpdate } from './violations/violation.js';

export interface DaemonOptions {
  /** null: no HTTP server (record without --listen). */
  listen: { host: string; port: number } | null;
  backend: BackendChoice;
  strict: boolean;
  model?: RefcountModel | undefined;
  journalDir: string | null;
  fsync: FsyncPolicy;
  logLevel: string;
  /** Write the live event stream here (NDJSON). */
  recordPath?: string | undefined;
  /** Default: binary for a .dxb path, else NDJSON. */
  recordFormat?: RecordingFormat | undefined;
  apiTokenFile?: string | undefined;
  checkConfig: Partial<CheckConfig>;
  maxFolios?: number | undefined;
  /** Stop by itself after this many seconds. */
  durationSeconds?: number | undefined;
  /** Skip sysfs pgmap discovery (tests). */
  discover?: boolean;
  /** Facts to use instead of reading the host (tests). */
  facts?: KernelFacts;
  /** Struct-page scanning (docs/scan.md); undefined or interval 0: off. */
  scan?: ScanConfig | undefined;
  /** Called once the daemon is up (tests, lab). */
  onReady?: (info: { port: number | null }) => void;
}

export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export async function runDaemon(o: DaemonOptions): Promise<number> {
  const log = pino({ level: o.logLevel, base: { pid: process.pid } }, pino.destination(2));
  const facts = o.facts ?? (await gatherKernelFacts({ ...(o.model ? { model: o.model } : {}) }));
  const model = facts.model.model;
  log.info(
    { release: facts.release, model, evidence: facts.model.evidence, source: facts.model.source },
    `kernel ${facts.release}: ${model} refcount model`,
  );

  // ---- journal first: a restart serves the history again and continues its ids -------------------
  const store = new ViolationStore();
  let journal: Journal | null = null;
  let firstId = 1;
  if (o.journalDir) {
    journal = new Journal({ dir: o.journalDir, fsync: o.fsync });
    const load = journal.open();
    store.load(load.violations);
    firstId = nextIdAfter(load.violations);
    if (load.corruptLines || load.tornTail) {
      log.warn(
        { corruptLines: load.corruptLines, tornTail: load.tornTail },
        'journal had damaged lines; they were skipped',
      );
    }
    log.info({ dir: o.journalDir, restored: load.violations.length, files: load.files }, 'journal opened');
  }

  // ---- pipeline ------------------------------------------------------------------------------------
  let metrics: DaxmonMetrics | null = null;
  const pipeline = buildPipeline({
    model,
    kernelRelease: facts.release,
    firstViolationId: firstId,
    checkConfig: o.checkConfig,
    ...(o.maxFolios !== undefined ? { maxFolios: o.maxFolios } : {}),
    stateObserver: {
      waitClosed: (w, endT) => metrics?.waitClosed(w, endT),
      teardownDone: (_p, s) => metrics?.teardownDone(s),
    },
    sink: {
      violation(v: Violation, u: ViolationUpdate) {
        // Durable first; a journal failure is logged and counted but never loses the violation
        // from the API and the log.
        if (journal) {
          try {
            journal.write(v, u);
          } catch (err) {
            log.error(errorLogFields(err), 'violation journal write failed');
          }
        }
        store.update(v, u);
        if (u === 'new') {
          metrics?.violation(v);
          const level = v.severity === 'error' ? 'error' : 'warn';
          log[level](
            { violation: v.id, kind: v.kind, pfn: v.pfn, pgmap: v.pgmap?.id, pid: v.pid, comm: v.comm },
            `${v.kind}: ${v.message}`,
          );
        } else if (u === 'cleared') {
          log.info({ violation: v.id, kind: v.kind, pfn: v.pfn }, `${v.kind} cleared`);
        }
      },
    },
  });
  const { state, engine } = pipeline;

  // ---- recording -----------------------------------------------------------------------------------
  let recorder: fs.WriteStream | null = null;
  const encoder = o.recordPath
    ? createRecordingEncoder(recordingFormatFor(o.recordPath, o.recordFormat))
    : null;
  if (o.recordPath && encoder) {
    recorder = openRecorder(o.recordPath);
    recorder.write(
      encoder.header({
        created: new Date().toISOString(),
        kernel: { release: facts.release, model },
        source: o.backend,
        hostname: os.hostname(),
      }),
    );
  }
  const ingest = (e: DaxEvent): void => {
    pipeline.ingest(e);
    if (recorder) recorder.write(encoder!.event(e));
  };

  // ---- pgmaps that exist already ------------------------------------------------------------------
  if (o.discover ?? true) {
    const d = discoverPgmaps(facts.pmem, monotonicNs(), process.pid);
    for (const e of d.events) ingest(e);
    for (const s of d.skipped)
      log.warn({ device: s.device }, `pgmap of ${s.device} not discovered: ${s.reason}`);
    if (d.events.length) log.info({ pgmaps: d.events.map((e) => e.device) }, 'discovered existing pgmaps');
  }

  // ---- backends ----------------------------------------------------------------------------------------
  const bLog = backendLog(log);
  const supervisors: BackendSupervisor[] = [];
  const unavailableBackends: { backend: string; reason: string }[] = [];
  const chosen = chooseBackends(o.backend, facts, unavailableBackends);
  for (const b of chosen) {
    const sup = new BackendSupervisor({
      backend: b.name,
      emit: ingest,
      log: bLog,
      plan: () => {
        const launch = b.plan(facts, {
          strict: o.strict,
          bpfBuildDir: path.join(PACKAGE_ROOT, 'bpf', 'build'),
          bpftraceDir: path.join(PACKAGE_ROOT, 'bpf', 'bpftrace'),
        });
        for (const u of launch.unavailable) {
          ingest({
            type: 'probe_status',
            t: monotonicNs(),
            pid: process.pid,
            comm: 'daxmon',
            backend: b.name,
            probe: u.probe,
            attached: false,
            detail: u.reason,
          });
          log.warn(
            { backend: b.name, probe: u.probe, code: codeIn(u.reason) },
            `probe ${u.probe} unavailable: ${u.reason}`,
          );
        }
        for (const u of launch.notApplicable ?? []) {
          log.info({ backend: b.name, probe: u.probe }, `probe ${u.probe} not used: ${u.reason}`);
        }
        return launch;
      },
    });
    supervisors.push(sup);
  }
  if (chosen.length === 0) {
    for (const u of unavailableBackends)
      log.warn(
        { backend: u.backend, code: codeIn(u.reason) },
        `backend ${u.backend} unavailable: ${u.reason}`,
      );
    if (o.strict)
      throw new DaxmonError(
        'DAXMON_E_NO_BACKEND',
        `--strict: no probe backend can run here (${unavailableBackends.map((u) => `${u.backend}: ${u.reason}`).join('; ')})`,
      );
  }
  const backendHealth = (): BackendHealth[] => [
    ...supervisors.map((s) => ({ backend: s.backend, up: s.up, restarts: s.restarts, probes: s.probes })),
  ];

  const readiness = (): Readiness => {
    const attached = [...state.probes.values()].filter((p) => p.attached);
    const names = attached.map((p) => `${p.backend}:${p.probe}`).join(', ');
    // Ready means daxmon can check something: probes that attach but serve no check (the fs_dax
    // fault tracepoints alone, on a kernel that refuses kprobes and fentry) leave it blind.
    const active = engine.activity().filter((c) => c.active);
    if (active.length > 0) {
      return {
        ready: true,
        reason: `${attached.length} probe(s) attached: ${names}; ${active.length} check(s) active`,
      };
    }
    if (chosen.length === 0) {
      return {
        ready: false,
        reason: `no probe backend can run here: ${unavailableBackends.map((u) => `${u.backend}: ${u.reason}`).join('; ') || 'none requested (--backend none)'}`,
      };
    }
    const notAttached = [...state.probes.values()].filter((p) => !p.attached);
    const down = supervisors
      .filter((s) => !s.up)
      .map((s) => `${s.backend} ${s.lastExit?.reason ?? 'not started'}`);
    return {
      ready: false,
      reason: `${attached.length ? `no check can run with the probes attached (${names})` : 'no probe attached yet'}${down.length ? `; backend ${down.join(', ')}` : ''}${notAttached.length ? `; unavailable: ${notAttached.map((p) => `${p.probe} (${p.detail})`).join('; ')}` : ''}`,
    };
  };

  // ---- struct-page scanner (privileged sibling binary, docs/scan.md) ----------------------------------
  let scan: ScanService | undefined;
  if (o.scan && o.scan.intervalSeconds > 0) {
    const bin = path.join(PACKAGE_ROOT, 'bpf', 'build', 'daxmon-scan');
    if (!fs.existsSync(bin)) log.warn({ bin }, 'struct-page scanner not built (npm run build:bpf): no scans');
    else if (process.getuid?.() !== 0) log.warn('struct-page scanner needs root: no scans');
    else {
      const config = o.scan;
      scan = new ScanService({
        state,
        model,
        scanner: new Scanner(bin),
        config,
        ingest,
        nowNs: monotonicNs,
        onScanDone: (seconds) => {
          metrics?.scanDone(seconds);
          log.info(
            { seconds, pages: scan!.stats.pagesTotal, drift: scan!.stats.drift },
            'struct-page scan done',
          );
        },
        onError: (err) => log.warn(errorLogFields(err), 'struct-page scan failed'),
      });
    }
  }

  // ---- HTTP ---------------------------------------------------------------------------------------------
  metrics = new DaxmonMetrics({
    scan,
    state,
    engine,
    kernel: { release: facts.release, model },
    backends: backendHealth,
    now: monotonicNs,
    journalWriteErrors: () => journal?.writeErrors ?? 0,
  });
  let port: number | null = null;
  const server = o.listen
    ? buildServer({
        state,
        engine,
        metrics,
        violations: store,
        kernel: { release: facts.release, model, evidence: facts.model.evidence },
        readiness,
        backends: () => [
          ...supervisors.map((s) => ({
            backend: s.backend as string,
            up: s.up,
            restarts: s.restarts,
            lastExit: s.lastExit,
            gaveUp: s.gaveUp,
          })),
          ...unavailableBackends.map((u) => ({
            backend: u.backend,
            up: false,
            restarts: 0,
            lastExit: null,
            unavailable: u.reason,
          })),
        ],
        now: monotonicNs,
        apiToken: readToken(o.apiTokenFile),
        scan,
      })
    : null;
  if (server && o.listen) {
    try {
      await server.listen({ host: o.listen.host, port: o.listen.port });
    } catch (err) {
      throw new DaxmonError(
        'DAXMON_E_LISTEN',
        `cannot listen on ${o.listen.host}:${o.listen.port}: ${(err as Error).message}; choose another with --listen HOST:PORT`,
      );
    }
    const addr = server.server.address();
    port = typeof addr === 'object' && addr ? addr.port : o.listen.port;
    log.info({ url: `http://${o.listen.host}:${port}/metrics` }, 'serving metrics and API');
  }

  for (const s of supervisors) s.start();
  scan?.start();

  // ---- time-based checks and journal housekeeping ----------------------------------------------
  const ticker = setInterval(() => {
    pipeline.tick(monotonicNs());
    journal?.flushRepeats();
  }, 1000);

  log.info({ backends: chosen.map((b) => b.name), ready: readiness() }, 'daxmon running');
  o.onReady?.({ port });

  // ---- shutdown ----------------------------------------------------------------------------------------
  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (why: string) => {
      if (stopping) {
        log.warn('second signal: exiting now');
        process.exit(130);
      }
      stopping = true;
      log.info({ why }, 'shutting down');
      clearInterval(ticker);
      scan?.stop();
      await Promise.all(supervisors.map((s) => s.stop()));
      await server?.close();
      journal?.close();
      if (recorder) await new Promise<void>((r) => recorder!.end(r));
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      log.info('stopped');
      log.flush();
      resolve(0);
    };
    const onTerm = () => void stop('SIGTERM');
    const onInt = () => void stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    if (o.durationSeconds !== undefined)
      setTimeout(
        () => void stop(`--duration ${o.durationSeconds}s elapsed`),
        o.durationSeconds * 1000,
      ).unref();
  });
}

function chooseBackends(
  choice: BackendChoice,
  facts: KernelFacts,
  unavailable: { backend: string; reason: string }[],
): Backend[] {
  if (choice === 'none') return [];
  const all = availableBackends();
  const order: BackendName[] = choice === 'auto' ? ['libbpf', 'bpftrace'] : [choice];
  for (const name of order) {
    const b = all[name as 'libbpf' | 'bpftrace'];
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

function backendLog(log: Logger): BackendLog {
  return {
    debug: (m, f) => log.debug(f ?? {}, m),
    info: (m, f) => log.info(f ?? {}, m),
    warn: (m, f) => log.warn(f ?? {}, m),
    error: (m, f) => log.error(f ?? {}, m),
  };
}

function openRecorder(file: string): fs.WriteStream {
  try {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const fd = fs.openSync(file, 'w', 0o640);
    return fs.createWriteStream('', { fd, highWaterMark: 1 << 20 });
  } catch (err) {
    throw new DaxmonError(
      'DAXMON_E_RECORD_OPEN',
      `cannot write the recording ${file}: ${(err as Error).message}`,
    );
  }
}

function readToken(file: string | undefined): string | undefined {
  if (!file) return undefined;
  try {
    const t = fs.readFileSync(file, 'utf8').trim();
    if (t.length < 16) throw new Error('the token must be at least 16 characters');
    return t;
  } catch (err) {
    throw new DaxmonError(
      'DAXMON_E_API_TOKEN',
      `cannot use the API token file ${file}: ${(err as Error).message}`,
    );
  }
}
