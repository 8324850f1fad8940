/**
 * The metrics contract between the daxmon daemon and its dashboards and alerts.
 *
 * Every PromQL expression in dashboards/ may use only the series named here (the tests in
 * test/dashboards enforce it), and the daemon's own tests can import this module to assert that
 * `/metrics` exports exactly the `daxmon_*` families below, with these label names. Keeping one list
 * means a renamed metric breaks a build instead of silently emptying a panel or an alert.
 *
 * No label takes per-pfn or per-pid values: cardinality stays bounded by pgmaps, probes and kinds.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram';

/** Where a family comes from: daxmon's own registry, prom-client's default collectors, or Prometheus. */
export type MetricSource = 'daxmon' | 'prom-client' | 'prometheus';

export interface MetricSpec {
  readonly type: MetricType;
  readonly source: MetricSource;
  readonly help: string;
  /** Label name → its closed set of values, or `null` when values are open (pgmap ids, probe names). */
  readonly labels: Readonly<Record<string, readonly string[] | null>>;
  /**
   * Set while the daemon does not export the family yet, naming what will: dashboards may already
   * use it, the daemon's /metrics test expects it absent, and the VM end-to-end test does not
   * require its panels to have data. Remove it with the code that exports the family.
   */
  readonly pending?: string;
}

export const EVENT_TYPES = [
  'pgmap_registered',
  'pgmap_teardown_begin',
  'pgmap_ref_released',
  'pgmap_teardown_done',
  'dax_fault',
  'dax_entry_insert',
  'dax_entry_remove',
  'folio_map',
  'folio_unmap',
  'gup',
  'gup_longterm_refused',
  'folio_put',
  'folio_idle',
  'zone_device_free',
  'busy_page_found',
  'layout_break_begin',
  'layout_break_end',
  'refcount_sample',
  'backend_started',
  'backend_stopped',
  'events_lost',
  'probe_status',
] as const;

export const BACKENDS = ['libbpf', 'bpftrace'] as const;

/** Violation kinds, one per invariant in docs/kernel-model.md §5 (V1–V11). */
export const VIOLATION_KINDS = [
  'map_zero_ref',
  'refcount_underflow',
  'free_while_mapped',
  'entry_removed_while_busy',
  'teardown_with_live_folios',
  'idle_refcount_mismatch',
  'compound_pgmap_mismatch',
  'busy_wait_stuck',
  'page_free_missing',
  'devmap_in_new_model',
  'longterm_pin_on_fsdax',
] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export const VIOLATION_SEVERITIES = ['warning', 'error'] as const;
export const PGMAP_TYPES = ['fs_dax', 'generic', 'private', 'coherent', 'pci_p2pdma'] as const;
export const FOLIO_STATES = [
  'idle',
  'mapped',
  'pinned',
  'referenced',
  'free',
  'mapped_unknown',
  'uncertain',
] as const;
export const REFCOUNT_MODELS = ['old', 'new'] as const;
export const SCAN_DRIFT_FIELDS = ['refcount', 'mapcount', 'state'] as const;

/** The code that will export the scan families. */

/** daxmon's own families. The daemon must export exactly these, but the `pending` ones. */
export const DAXMON_METRICS = {
  daxmon_events_total: {
    type: 'counter',
    source: 'daxmon',
    help: 'Events ingested, by event type.',
    labels: { type: EVENT_TYPES },
  },
  daxmon_events_lost_total: {
    type: 'counter',
    source: 'daxmon',
    help: 'Events the kernel side never delivered: ring buffer or bpftrace lost events (reason buffer), program runs the kernel skipped (reason recursion_miss).',
    labels: { backend: BACKENDS, reason: ['buffer', 'recursion_miss'] },
  },
  daxmon_probe_missed_total: {
    type: 'counter',
    source: 'daxmon',
    help: 'Program runs the kernel skipped, per logical probe.',
    labels: { backend: BACKENDS, probe: null },
  },
  daxmon_program_runs: {
    type: 'gauge',
    source: 'daxmon',
    help: "The kernel's run count per attached program (with run statistics on).",
    labels: { backend: BACKENDS, probe: null, program: null },
  },
  daxmon_violations_total: {
    type: 'counter',
    source: 'daxmon',
    help: 'Refcount-model violations detected, by kind and severity.',
    labels: { kind: VIOLATION_KINDS, severity: VIOLATION_SEVERITIES },
  },
  daxmon_violations_suppressed_total: {
    type: 'counter',
    source: 'daxmon',
    help: 'New violations not reported because their kind exceeded its per-minute limit.',
    labels: { kind: VIOLATION_KINDS },
  },
  daxmon_check_active: {
    type: 'gauge',
    source: 'daxmon',
    help: '1 if the check has the hooks it needs on this kernel, 0 if inactive.',
    labels: { kind: VIOLATION_KINDS },
  },
  daxmon_pgmaps: { type: 'gauge', source: 'daxmon', help: 'dev_pagemaps known.', labels: {} },
  daxmon_pgmap_info: {
    type: 'gauge',
    source: 'daxmon',
    help: 'Constant 1 per known pgmap, carrying its type and device.',
    labels: { pgmap: null, type: PGMAP_TYPES, device: null },
  },
  daxmon_pgmap_folios: {
    type: 'gauge',
    source: 'daxmon',
    help: 'Tracked folios by pgmap and state.',
    labels: { pgmap: null, state: FOLIO_STATES },
  },
  daxmon_tracked_folios: { type: 'gauge', source: 'daxmon', help: 'Folios tracked.', labels: {} },
  daxmon_state_bytes: {
    type: 'gauge',
    source: 'daxmon',
    help: 'Memory held by the folio store and the history ring.',
    labels: {},
  },
  daxmon_folio_evictions_total: {
    type: 'counter',
    source: 'daxmon',
    help: 'Idle folios dropped from tracking to stay under --max-folios.',
    labels: {},
  },
  daxmon_probe_attached: {
    type: 'gauge',
    source: 'daxmon',
    help: '1 if the probe is attached, 0 if not.',
    labels: { probe: null, backend: BACKENDS },
  },
  daxmon_backend_up: {
    type: 'gauge',
    source: 'daxmon',
    help: '1 while the backend process runs.',
    labels: { backend: BACKENDS },
  },
  daxmon_backend_restarts_total: {
    type: 'counter',
    source: 'daxmon',
    help: 'Backend process restarts.',
    labels: { backend: BACKENDS },
  },
  daxmon_kernel_info: {
    type: 'gauge',
    source: 'daxmon',
    help: 'Constant 1 carrying the kernel release and the refcount model in force.',
    labels: { release: null, refcount_model: REFCOUNT_MODELS },
  },
  daxmon_busy_page_wait_seconds: {
    type: 'histogram',
    source: 'daxmon',
    help: 'Finished layout-break waits on busy DAX pages (truncate, hole punch).',
    labels: {},
  },
  daxmon_busy_waits_open: {
    type: 'gauge',
    source: 'daxmon',
    help: 'Layout-break waits in progress.',
    labels: {},
  },
  daxmon_busy_wait_oldest_seconds: {
    type: 'gauge',
    source: 'daxmon',
    help: 'Age of the oldest open layout-break wait, 0 when none.',
    labels: {},
  },
  daxmon_confirmations_total: {
    type: 'counter',
    source: 'daxmon',
    help: 'Candidates the kernel was asked about before raising them: confirmed, resynced, or unread (docs/violations.md).',
    labels: {
      check: ['busy_wait_stuck', 'idle_refcount_mismatch'],
      outcome: ['confirmed', 'resynced', 'unread'],
    },
  },
  daxmon_pgmap_teardown_seconds: {
    type: 'histogram',
    source: 'daxmon',
    help: 'pgmap teardown durations, memunmap_pages begin to done.',
    labels: {},
  },
  daxmon_gup_longterm_refused_total: {
    type: 'counter',
    source: 'daxmon',
    help: 'FOLL_LONGTERM pin attempts refused on FS DAX (the kernel doing its job).',
    labels: {},
  },
  daxmon_scan_duration_seconds: {
    type: 'histogram',
    source: 'daxmon',
    help: 'Duration of struct-page scans.',
    labels: {},
  },
  daxmon_scan_pages_total: {
    type: 'counter',
    source: 'daxmon',
    help: 'Struct pages scanned.',
    labels: {},
  },
  daxmon_scan_drift_total: {
    type: 'counter',
    source: 'daxmon',
    help: 'Scanned values that disagreed with the tracked state, by field.',
    labels: { field: SCAN_DRIFT_FIELDS },
  },
  daxmon_scan_last_success_timestamp_seconds: {
    type: 'gauge',
    source: 'daxmon',
    help: 'Unix time of the last successful scan.',
    labels: {},
  },
  daxmon_journal_write_errors_total: {
    type: 'counter',
    source: 'daxmon',
    help: 'Violation journal write failures.',
    labels: {},
  },
  daxmon_journal_damaged_records_total: {
    type: 'counter',
    source: 'daxmon',
    help: 'Violation journal records found damaged at start-up and skipped.',
    labels: {},
  },
  daxmon_journal_dropped_records_total: {
    type: 'counter',
    source: 'daxmon',
    help: 'Violation journal records dropped from a full in-memory backlog (never journaled).',
    labels: {},
  },
  daxmon_recording_dropped_events_total: {
    type: 'counter',
    source: 'daxmon',
    help: 'Events --record could not write (the disk did not keep up).',
    labels: {},
  },
} as const satisfies Record<string, MetricSpec>;

const processGauge = (help: string): MetricSpec => ({
  type: 'gauge',
  source: 'prom-client',
  help,
  labels: {},
});

/**
 * prom-client 15's `collectDefaultMetrics()` families on Linux. Dashboards may use any of them; the
 * daemon gets them by calling collectDefaultMetrics without a prefix.
 */
export const PROCESS_METRICS = {
  process_cpu_user_seconds_total: {
    type: 'counter',
    source: 'prom-client',
    help: 'User CPU time.',
    labels: {},
  },
  process_cpu_system_seconds_total: {
    type: 'counter',
    source: 'prom-client',
    help: 'System CPU time.',
    labels: {},
  },
  process_cpu_seconds_total: { type: 'counter', source: 'prom-client', help: 'Total CPU time.', labels: {} },
  process_start_time_seconds: processGauge('Process start time, Unix seconds.'),
  process_resident_memory_bytes: processGauge('Resident memory size.'),
  process_virtual_memory_bytes: processGauge('Virtual memory size.'),
  process_heap_bytes: processGauge('Process heap size.'),
  process_open_fds: processGauge('Open file descriptors.'),
  process_max_fds: processGauge('Maximum file descriptors.'),
  nodejs_eventloop_lag_seconds: processGauge('Event loop lag.'),
  nodejs_eventloop_lag_min_seconds: processGauge('Minimum recorded event loop delay.'),
  nodejs_eventloop_lag_max_seconds: processGauge('Maximum recorded event loop delay.'),
  nodejs_eventloop_lag_mean_seconds: processGauge('Mean recorded event loop delay.'),
  nodejs_eventloop_lag_stddev_seconds: processGauge('Standard deviation of event loop delay.'),
  nodejs_eventloop_lag_p50_seconds: processGauge('50th percentile of event loop delay.'),
  nodejs_eventloop_lag_p90_seconds: processGauge('90th percentile of event loop delay.'),
  nodejs_eventloop_lag_p99_seconds: processGauge('99th percentile of event loop delay.'),
  nodejs_active_resources: {
    type: 'gauge',
    source: 'prom-client',
    help: 'Active resources keeping the event loop alive, by type.',
    labels: { type: null },
  },
  nodejs_active_resources_total: processGauge('Active resources keeping the event loop alive.'),
  nodejs_active_handles: {
    type: 'gauge',
    source: 'prom-client',
    help: 'Active libuv handles, by type.',
    labels: { type: null },
  },
  nodejs_active_handles_total: processGauge('Active libuv handles.'),
  nodejs_active_requests: {
    type: 'gauge',
    source: 'prom-client',
    help: 'Active libuv requests, by type.',
    labels: { type: null },
  },
  nodejs_active_requests_total: processGauge('Active libuv requests.'),
  nodejs_heap_size_total_bytes: processGauge('V8 heap size.'),
  nodejs_heap_size_used_bytes: processGauge('V8 heap used.'),
  nodejs_external_memory_bytes: processGauge('V8 external memory.'),
  nodejs_heap_space_size_total_bytes: {
    type: 'gauge',
    source: 'prom-client',
    help: 'V8 heap space size, by space.',
    labels: { space: null },
  },
  nodejs_heap_space_size_used_bytes: {
    type: 'gauge',
    source: 'prom-client',
    help: 'V8 heap space used, by space.',
    labels: { space: null },
  },
  nodejs_heap_space_size_available_bytes: {
    type: 'gauge',
    source: 'prom-client',
    help: 'V8 heap space available, by space.',
    labels: { space: null },
  },
  nodejs_version_info: {
    type: 'gauge',
    source: 'prom-client',
    help: 'Node.js version.',
    labels: { version: null, major: null, minor: null, patch: null },
  },
  nodejs_gc_duration_seconds: {
    type: 'histogram',
    source: 'prom-client',
    help: 'Garbage collection duration, by kind.',
    labels: { kind: null },
  },
} as const satisfies Record<string, MetricSpec>;

/** Prometheus's own synthetic series for the scrape of daxmon. */
export const PROMETHEUS_METRICS = {
  up: {
    type: 'gauge',
    source: 'prometheus',
    help: '1 if the last scrape of the target succeeded.',
    labels: { job: null },
  },
} as const satisfies Record<string, MetricSpec>;

/** Families the daemon does not export yet (see `MetricSpec.pending`). */
export function pendingMetrics(): string[] {
  return Object.entries(DAXMON_METRICS as Record<string, MetricSpec>)
    .filter(([, spec]) => spec.pending !== undefined)
    .map(([name]) => name);
}

export const ALL_METRICS = { ...DAXMON_METRICS, ...PROCESS_METRICS, ...PROMETHEUS_METRICS } as const;

export type MetricName = keyof typeof ALL_METRICS;
export type DaxmonMetricName = keyof typeof DAXMON_METRICS;
type HistogramName = {
  [N in MetricName]: (typeof ALL_METRICS)[N]['type'] extends 'histogram' ? N : never;
}[MetricName];
type PlainName = Exclude<MetricName, HistogramName>;

/** A name a PromQL selector may use: a counter or gauge, or a histogram's `_bucket`/`_sum`/`_count`. */
export type SeriesName = PlainName | `${HistogramName}_${'bucket' | 'sum' | 'count'}`;

/** Labels every scraped series carries from Prometheus's target labels. */
export const TARGET_LABELS = ['instance', 'job'] as const;

export interface SeriesSpec {
  readonly family: MetricName;
  readonly spec: MetricSpec;
  /** Label names a selector on this series may match on (family labels, target labels, `le`). */
  readonly labels: Readonly<Record<string, readonly string[] | null>>;
}

/** Every series name the contract allows in PromQL, mapped to its family and matchable labels. */
export function seriesNames(): ReadonlyMap<string, SeriesSpec> {
  const out = new Map<string, SeriesSpec>();
  const targets = Object.fromEntries(TARGET_LABELS.map((l) => [l, null]));
  for (const [family, spec] of Object.entries(ALL_METRICS) as [MetricName, MetricSpec][]) {
    const labels = { ...targets, ...spec.labels };
    if (spec.type === 'histogram') {
      out.set(`${family}_bucket`, { family, spec, labels: { ...labels, le: null } });
      out.set(`${family}_sum`, { family, spec, labels });
      out.set(`${family}_count`, { family, spec, labels });
    } else {
      out.set(family, { family, spec, labels });
    }
  }
  return out;
}
