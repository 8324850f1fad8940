/**
 * The daemon behind `daxmon run` and `daxmon record`, in its start-up order: read the host, open
 * the violation journal (a restart serves its history again and continues its ids), build the
 * pipeline, the recording, the backends, the scanner and the metrics (no event flows while they
 * are built), then discover the pgmaps that exist already, serve HTTP, start the backends and the
 * scanner, and tick the time-based checks. `stop()` shuts down in the order that loses nothing:
 * the scanner and the backends first, so their last events are still checked and journaled,
 * then HTTP, then the journal and the recording.
 */
import pino, { type Logger } from 'pino';
import { monotonicNs } from '../clock.js';
import { discoverPgmaps } from '../discovery.js';
import { errorLogFields, type DaxmonError } from '../errors.js';
import type { KernelFacts } from '../kernel/facts.js';
import { gatherKernelFacts } from '../kernel/gather.js';
import { DaxmonMetrics } from '../metrics/registry.js';
import { buildPipeline, type Pipeline } from '../pipeline.js';
import { availableBackends } from '../probes/select.js';
import type { ScanService } from '../scan/service.js';
import type { ServerDeps } from '../server/app.js';
import { Backends } from './backends.js';
import { CountedMetrics } from './counted-metrics.js';
import { readToken, serveHttp, type Http } from './http.js';
import type { DaemonOptions } from './options.js';
import { readiness } from './readiness.js';
import { openRecording, type Recording } from './recording.js';
import { structPageScan } from './scan.js';
import { openViolationRecords, violationSink, type ViolationRecords } from './violations.js';
import { scanFolioConfirmer } from './folio-confirmer.js';
import { procWaitConfirmer } from './wait-confirmer.js';

export type { DaemonOptions } from './options.js';

export interface RunningDaemon {
  readonly log: Logger;
  /** The HTTP port (the actual one for `--listen HOST:0`); null without HTTP. */
  readonly port: number | null;
  /** Shut down in order (see above); resolves when everything is closed. Call it once. */
  stop(why: string): Promise<void>;
  /** Settles with the failure `--strict` must end daxmon with (never without --strict). */
  readonly failed: Promise<DaxmonError>;
}

/** Everything a daemon is made of, built before anything runs. */
interface Parts {
  facts: KernelFacts;
  records: ViolationRecords;
  pipeline: Pipeline;
  recording: Recording | null;
  backends: Backends;
  scan: ScanService | undefined;
  metrics: DaxmonMetrics;
}

export async function startDaemon(o: DaemonOptions): Promise<RunningDaemon> {
  const log = pino(
    { level: o.logLevel, base: { pid: process.pid } },
    o.logDestination ?? pino.destination(2),
  );
  const facts = await readFacts(o, log);
  const parts = buildParts(o, facts, log);
  if (o.discover ?? true) ingestDiscoveredPgmaps(parts, log);
  const http = o.listen ? await serveHttp(o.listen, serverDeps(o, parts), log) : null;
  parts.backends.start();
  parts.scan?.start();
  // The time-based checks' clock: each tick that can matter goes through the pipeline as a
  // clock_tick event, so the recording has it and a replay ticks where this run did.
  const clock = o.clock ?? monotonicNs;
  const ticker = setInterval(() => {
    parts.pipeline.clock(clock());
    parts.records.journal?.flushRepeats();
  }, o.tickIntervalMs ?? 1000);
  const ready = readiness(parts.pipeline.state, parts.pipeline.engine, parts.backends);
  log.info({ backends: parts.backends.names, ready }, 'daxmon running');
  return {
    log,
    port: http?.port ?? null,
    stop: (why) => shutDown(parts, http, ticker, log, why),
    failed: parts.backends.failed,
  };
}

async function readFacts(o: DaemonOptions, log: Logger): Promise<KernelFacts> {
  const facts = o.facts ?? (await gatherKernelFacts({ ...(o.model ? { model: o.model } : {}) }));
  const model = facts.model.model;
  log.info(
    { release: facts.release, model, evidence: facts.model.evidence, source: facts.model.source },
    `kernel ${facts.release}: ${model} refcount model`,
  );
  return facts;
}

function buildParts(o: DaemonOptions, facts: KernelFacts, log: Logger): Parts {
  const model = facts.model.model;
  const records = openViolationRecords(o.journalDir, o.fsync, log, {
    retainViolations: o.retainViolations,
    journalMaxBytes: o.journalMaxBytes,
    ...(o.journalFs ? { fs: o.journalFs } : {}),
  });
  const counted = new CountedMetrics();
  const pipeline = buildPipeline({
    model,
    kernelRelease: facts.release,
    firstViolationId: records.firstId,
    ...(records.journal ? { violationIds: records.journal.takeId.bind(records.journal) } : {}),
    checkConfig: o.checkConfig,
    ...(o.maxFolios !== undefined ? { maxFolios: o.maxFolios } : {}),
    stateObserver: counted.stateObserver,
    sink: violationSink(records, counted, log),
  });
  const { state, engine } = pipeline;
  const ingest = pipeline.ingest.bind(pipeline);
  // Confirm before you accuse: busy_wait_stuck is raised only when /proc agrees (wait-confirmer.ts),
  // idle_refcount_mismatch only when the struct pages agree, if the scanner runs (folio-confirmer.ts).
  pipeline.confirmWith(o.confirmer ?? procWaitConfirmer());
  const scanDone = (seconds: number) => counted.scanDone(seconds);
  const scan = structPageScan({ config: o.scan, state, model, ingest, scanDone, log });
  if (scan)
    pipeline.confirmFoliosWith(
      scanFolioConfirmer({
        scan,
        state,
        ingest,
        nowNs: monotonicNs,
        onError: (err) => log.error(errorLogFields(err), 'folio confirmation could not be ingested'),
      }),
    );
  const recording = o.recordPath
    ? openRecording({
        file: o.recordPath,
        format: o.recordFormat,
        kernel: { release: facts.release, model },
        source: o.backend,
        // What a replay needs to decide as this run does (docs/events.md "Replay equals live").
        replay: {
          clock: 'recorded',
          confirms: engine.confirms,
          checkConfig: { ...pipeline.engine.config },
        },
        log,
        ...(o.recordStream ? { stream: o.recordStream } : {}),
        ...(o.recordBufferBytes !== undefined ? { maxBufferedBytes: o.recordBufferBytes } : {}),
      })
    : null;
  if (recording) pipeline.observe((e) => recording.write(e));
  const backends = new Backends({
    choice: o.backend,
    strict: o.strict,
    facts,
    catalog: o.backendCatalog ?? availableBackends(),
    ingest,
    log,
  });
  const metrics = new DaxmonMetrics({
    scan,
    state,
    engine,
    kernel: { release: facts.release, model },
    backends: () => backends.health(),
    now: monotonicNs,
    journalWriteErrors: () => records.journal?.writeErrors ?? 0,
    journalDamagedRecords: () => records.store.damagedRecords,
    journalDroppedRecords: () => records.journal?.droppedRecords ?? 0,
    recordingDroppedEvents: () => recording?.droppedEvents ?? 0,
  });
  counted.connect(metrics);
  return { facts, records, pipeline, recording, backends, scan, metrics };
}

/** pgmaps that existed before daxmon started fire no hook: announce them from sysfs. */
function ingestDiscoveredPgmaps(p: Parts, log: Logger): void {
  const d = discoverPgmaps(p.facts.pmem, monotonicNs(), process.pid);
  for (const e of d.events) p.pipeline.ingest(e);
  for (const s of d.skipped)
    log.warn({ device: s.device }, `pgmap of ${s.device} not discovered: ${s.reason}`);
  if (d.events.length) log.info({ pgmaps: d.events.map((e) => e.device) }, 'discovered existing pgmaps');
}

function serverDeps(o: DaemonOptions, p: Parts): ServerDeps {
  const { state, engine } = p.pipeline;
  return {
    state,
    engine,
    metrics: p.metrics,
    violations: p.records.store,
    kernel: { release: p.facts.release, model: p.facts.model.model, evidence: p.facts.model.evidence },
    readiness: () => readiness(state, engine, p.backends),
    backends: () => p.backends.status(),
    now: monotonicNs,
    apiToken: readToken(o.apiTokenFile),
    scan: p.scan,
  };
}

async function shutDown(
  p: Parts,
  http: Http | null,
  ticker: NodeJS.Timeout,
  log: Logger,
  why: string,
): Promise<void> {
  log.info({ why }, 'shutting down');
  clearInterval(ticker);
  p.scan?.stop();
  await p.backends.stop();
  await http?.close();
  const unwritten = p.records.journal?.close() ?? 0;
  if (unwritten > 0)
    log.error(
      { records: unwritten },
      'violation journal: records the disk never took are lost with this process',
    );
  await p.recording?.close();
  log.info('stopped');
  log.flush();
}
