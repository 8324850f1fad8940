/**
 * daxmon's Prometheus metrics. Values are read from the state at scrape time (`collect()`), so the
 * event path pays nothing for them; only rare things (violations, finished waits, teardowns) are
 * counted as they happen. No label takes per-pfn or per-pid values. The names are a contract with
 * the dashboards and alerts (dashboards/src/metrics-contract.ts; test/server/api.test.ts asserts both agree).
 */
import client from 'prom-client';
import type { CheckEngine } from '../checks/engine.js';
import type { BackendName } from '../events/types.js';
import { eventCountsByType, pgmapFolioSeries } from '../state/figures.js';
import { FOLIO_STATES } from '../state/folio-store.js';
import type { ScanService } from '../scan/service.js';
import { DRIFT_FIELDS } from '../scan/reconcile.js';
import type { Pgmap } from '../state/pgmaps.js';
import { LOST_REASONS, type DaxState } from '../state/state.js';
import type { OpenWait } from '../state/waits.js';
import type { Violation } from '../violations/violation.js';

export interface BackendHealth {
  backend: BackendName;
  up: boolean;
  restarts: number;
  /** Probes the backend was asked to attach (reported 0 until it says otherwise). */
  probes: string[];
}

export interface MetricsSources {
  state: DaxState;
  engine: CheckEngine;
  kernel: { release: string; model: string };
  backends: () => BackendHealth[];
  /** Stream clock now (ns): the age of open waits is measured on it. */
  now: () => number;
  journalWriteErrors?: () => number;
  /** Journal records found damaged (bad checksum or shape) when daxmon started. */
  journalDamagedRecords?: () => number;
  /** Journal records dropped from its full backlog. */
  journalDroppedRecords?: () => number;
  /** Events the recorder (--record) could not write: the disk did not keep up. */
  recordingDroppedEvents?: () => number;
  /** The struct-page scanner, when it runs. */
  scan?: ScanService | undefined;
}

/** Buckets for waits and teardowns: from a millisecond to the hung-task timeout and beyond. */
const SECONDS_BUCKETS = [0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export class DaxmonMetrics {
  readonly registry = new client.Registry();
  private readonly violations: client.Counter<'kind' | 'severity'>;
  private readonly busyWait: client.Histogram;
  private readonly teardown: client.Histogram;
  private readonly scanDuration: client.Histogram;

  constructor(src: MetricsSources, opts: { processMetrics?: boolean } = {}) {
    const r = this.registry;
    const { state } = src;
    if (opts.processMetrics ?? true) client.collectDefaultMetrics({ register: r });

    new client.Counter({
      name: 'daxmon_events_total',
      help: 'Events ingested, by event type.',
      labelNames: ['type'],
      registers: [r],
      collect() {
        this.reset();
        for (const [type, n] of Object.entries(eventCountsByType(state))) this.inc({ type }, n);
      },
    });
    new client.Counter({
      name: 'daxmon_events_lost_total',
      help: 'Events the kernel never delivered, by reason: buffer (ring buffer full, bpftrace lost samples), recursion_miss (the kernel skipped a program run, docs/kernel-model.md §11).',
      labelNames: ['backend', 'reason'],
      registers: [r],
      collect() {
        this.reset();
        for (const backend of ['libbpf', 'bpftrace'] as const)
          for (const reason of LOST_REASONS)
            this.inc({ backend, reason }, state.lostByReason.get(`${backend}:${reason}`) ?? 0);
      },
    });
    new client.Counter({
      name: 'daxmon_probe_missed_total',
      help: 'Program runs the kernel skipped (recursion_misses, kprobe missed) per logical probe since daxmon started: events lost, a gap in the state the probe feeds (docs/kernel-model.md §11).',
      labelNames: ['backend', 'probe'],
      registers: [r],
      collect() {
        this.reset();
        for (const m of state.missesByProbe.values())
          this.inc({ backend: m.backend, probe: m.probe }, m.missed);
      },
    });
    new client.Gauge({
      name: 'daxmon_program_runs',
      help: "The kernel's run count of each attached program (bpf_prog_info.run_cnt, with run statistics on), refreshed every 10 s: the denominator of misses per million runs.",
      labelNames: ['backend', 'probe', 'program'],
      registers: [r],
      collect() {
        this.reset();
        for (const p of state.programStats.values())
          if (p.runs !== null) this.set({ backend: p.backend, probe: p.probe, program: p.program }, p.runs);
      },
    });
    this.violations = new client.Counter({
      name: 'daxmon_violations_total',
      help: 'Violations of the refcount model raised, by kind and severity (repeats not counted).',
      labelNames: ['kind', 'severity'],
      registers: [r],
    });
    for (const c of src.engine.activity()) {
      for (const severity of ['warning', 'error']) this.violations.inc({ kind: c.kind, severity }, 0);
    }
    new client.Gauge({
      name: 'daxmon_check_active',
      help: 'Whether the check has the probes it needs on this kernel (1) or is inactive (0).',
      labelNames: ['kind'],
      registers: [r],
      collect() {
        for (const c of src.engine.activity()) this.set({ kind: c.kind }, c.active ? 1 : 0);
      },
    });
    new client.Counter({
      name: 'daxmon_violations_suppressed_total',
      help: 'New violations not reported because their kind exceeded its per-minute limit.',
      labelNames: ['kind'],
      registers: [r],
      collect() {
        this.reset();
        for (const c of src.engine.activity()) this.inc({ kind: c.kind }, c.suppressed);
      },
    });
    new client.Gauge({
      name: 'daxmon_pgmaps',
      help: 'dev_pagemaps known and not torn down.',
      registers: [r],
      collect() {
        this.set(state.pgmaps.liveCount);
      },
    });
    new client.Gauge({
      name: 'daxmon_pgmap_info',
      help: 'One series per known pgmap (value 1): its type and device.',
      labelNames: ['pgmap', 'type', 'device'],
      registers: [r],
      collect() {
        this.reset();
        for (const p of livePgmaps(state)) this.set({ pgmap: p.id, type: p.type, device: p.device ?? '' }, 1);
      },
    });
    new client.Gauge({
      name: 'daxmon_pgmap_folios',
      help: 'Folios per pgmap and state (after a scan every folio of the pgmap, untracked ones idle); "uncertain" counts tracked ones not re-read since a gap; "mapped_unknown" (old model, before 6.15): mapped through a devmap entry at some point, whether still mapped is not observable (no unmap hook; docs/kernel-model.md §12).',
      labelNames: ['pgmap', 'state'],
      registers: [r],
      collect() {
        this.reset();
        for (const { pgmap, counts } of pgmapFolioSeries(state, src.scan)) {
          for (const s of FOLIO_STATES) this.set({ pgmap, state: s }, counts.byState[s]);
          this.set({ pgmap, state: 'uncertain' }, counts.uncertain);
        }
      },
    });
    this.scanDuration = new client.Histogram({
      name: 'daxmon_scan_duration_seconds',
      help: 'Duration of struct-page scans (every live pgmap, budget sleeps included).',
      buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers: [r],
    });
    new client.Counter({
      name: 'daxmon_scan_pages_total',
      help: 'Struct pages scanned.',
      registers: [r],
      collect() {
        this.reset();
        this.inc(src.scan?.stats.pagesTotal ?? 0);
      },
    });
    new client.Counter({
      name: 'daxmon_scan_drift_total',
      help: 'Tracked folios whose field disagreed with the struct page at a scan.',
      labelNames: ['field'],
      registers: [r],
      collect() {
        this.reset();
        for (const field of DRIFT_FIELDS) this.inc({ field }, src.scan?.stats.drift[field] ?? 0);
      },
    });
    new client.Gauge({
      name: 'daxmon_scan_last_success_timestamp_seconds',
      help: 'Unix time of the last successful scan (0: none yet).',
      registers: [r],
      collect() {
        this.set(src.scan?.stats.lastSuccessUnixSeconds ?? 0);
      },
    });
    new client.Gauge({
      name: 'daxmon_tracked_folios',
      help: 'Folios daxmon tracks.',
      registers: [r],
      collect() {
        this.set(state.folios.size);
      },
    });
    new client.Gauge({
      name: 'daxmon_state_bytes',
      help: 'Memory held by the folio store and the history ring.',
      registers: [r],
      collect() {
        this.set(state.folios.bytes + state.history.bytes);
      },
    });
    new client.Counter({
      name: 'daxmon_folio_evictions_total',
      help: 'Idle folios dropped from tracking to stay under --max-folios.',
      registers: [r],
      collect() {
        this.reset();
        this.inc(state.evicted);
      },
    });
    new client.Gauge({
      name: 'daxmon_probe_attached',
      help: 'Whether a probe is attached (1) or not (0), by logical probe and backend.',
      labelNames: ['probe', 'backend'],
      registers: [r],
      collect() {
        this.reset();
        for (const b of src.backends())
          for (const probe of b.probes) this.set({ probe, backend: b.backend }, 0);
        for (const p of state.probes.values())
          this.set({ probe: p.probe, backend: p.backend }, p.attached ? 1 : 0);
      },
    });
    new client.Gauge({
      name: 'daxmon_backend_up',
      help: 'Whether the backend process is running (1) or not (0).',
      labelNames: ['backend'],
      registers: [r],
      collect() {
        this.reset();
        for (const b of src.backends()) this.set({ backend: b.backend }, b.up ? 1 : 0);
      },
    });
    new client.Counter({
      name: 'daxmon_backend_restarts_total',
      help: 'Times a backend process was restarted after it exited.',
      labelNames: ['backend'],
      registers: [r],
      collect() {
        this.reset();
        for (const b of src.backends()) this.inc({ backend: b.backend }, b.restarts);
      },
    });
    new client.Gauge({
      name: 'daxmon_kernel_info',
      help: 'The running kernel (value 1): release and refcount model (old: ≤6.14, FS DAX idle at 1; new: ≥6.15, idle at 0).',
      labelNames: ['release', 'refcount_model'],
      registers: [r],
      collect() {
        this.set({ release: src.kernel.release, refcount_model: src.kernel.model }, 1);
      },
    });
    this.busyWait = new client.Histogram({
      name: 'daxmon_busy_page_wait_seconds',
      help: 'Duration of finished layout-break waits (truncate/hole punch waiting for busy DAX pages).',
      buckets: SECONDS_BUCKETS,
      registers: [r],
    });
    new client.Gauge({
      name: 'daxmon_busy_waits_open',
      help: 'Layout-break waits in progress.',
      registers: [r],
      collect() {
        this.set(state.waits.size);
      },
    });
    new client.Counter({
      name: 'daxmon_confirmations_total',
      help: "Candidates the kernel was asked about before raising them (docs/violations.md): confirmed, resynced (the kernel did not agree; the wait was closed or made uncertain, the folio took the kernel's counts), or unread (the folio's struct pages could not be read).",
      labelNames: ['check', 'outcome'],
      registers: [r],
      collect() {
        this.reset();
        const c = state.waits.confirmations;
        this.inc({ check: 'busy_wait_stuck', outcome: 'confirmed' }, c.confirmed);
        this.inc({ check: 'busy_wait_stuck', outcome: 'resynced' }, c.resynced);
        const f = state.folioConfirmations;
        this.inc({ check: 'idle_refcount_mismatch', outcome: 'confirmed' }, f.confirmed);
        this.inc({ check: 'idle_refcount_mismatch', outcome: 'resynced' }, f.resynced);
        this.inc({ check: 'idle_refcount_mismatch', outcome: 'unread' }, f.unread);
      },
    });
    new client.Gauge({
      name: 'daxmon_busy_wait_oldest_seconds',
      help: 'Age of the oldest layout-break wait in progress (0 when none).',
      registers: [r],
      collect() {
        const oldest = state.waits.oldestBeginT();
        this.set(oldest === null ? 0 : Math.max(0, (src.now() - oldest) / 1e9));
      },
    });
    this.teardown = new client.Histogram({
      name: 'daxmon_pgmap_teardown_seconds',
      help: 'Duration of pgmap teardowns (memunmap_pages begin to done).',
      buckets: SECONDS_BUCKETS,
      registers: [r],
    });
    new client.Counter({
      name: 'daxmon_gup_longterm_refused_total',
      help: 'FOLL_LONGTERM pins refused on FS DAX (the healthy outcome of V11).',
      registers: [r],
      collect() {
        this.reset();
        this.inc(state.gupLongtermRefused);
      },
    });
    new client.Counter({
      name: 'daxmon_journal_write_errors_total',
      help: 'Failed writes, fsyncs or opens of the violation journal (each try; new violations wait in memory meanwhile).',
      registers: [r],
      collect() {
        this.reset();
        this.inc(src.journalWriteErrors?.() ?? 0);
      },
    });
    new client.Counter({
      name: 'daxmon_journal_damaged_records_total',
      help: 'Violation journal records found damaged at start-up (bad checksum, bad JSON) and skipped; their ids stay reserved.',
      registers: [r],
      collect() {
        this.reset();
        this.inc(src.journalDamagedRecords?.() ?? 0);
      },
    });
    new client.Counter({
      name: 'daxmon_journal_dropped_records_total',
      help: 'Violation journal records dropped from the full in-memory backlog while the disk refused writes: never journaled (a lost record marks them once the disk takes writes again).',
      registers: [r],
      collect() {
        this.reset();
        this.inc(src.journalDroppedRecords?.() ?? 0);
      },
    });
    new client.Counter({
      name: 'daxmon_recording_dropped_events_total',
      help: 'Events --record could not write because the file did not keep up (the recording marks each gap).',
      registers: [r],
      collect() {
        this.reset();
        this.inc(src.recordingDroppedEvents?.() ?? 0);
      },
    });
  }

  scanDone(seconds: number): void {
    this.scanDuration.observe(seconds);
  }

  violation(v: Violation): void {
    this.violations.inc({ kind: v.kind, severity: v.severity });
  }

  waitClosed(w: OpenWait, endT: number): void {
    this.busyWait.observe(Math.max(0, (endT - w.beginT) / 1e9));
  }

  teardownDone(seconds: number | null): void {
    if (seconds !== null) this.teardown.observe(Math.max(0, seconds));
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

function livePgmaps(state: DaxState): Pgmap[] {
  return state.pgmaps.all.filter((p) => p.phase !== 'gone');
}
