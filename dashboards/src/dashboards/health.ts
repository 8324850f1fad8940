/**
 * daxmon's own health: can it see what it claims to check? Probes attached, backends running and
 * restarting, events lost, the struct-page scan keeping the model honest, the journal, and the Node
 * process itself.
 */
import { count, increase, max, quantile, rate, sum } from '../promql.js';
import { badAbove, booleanMapping, goodFrom } from '../grafana/fields.js';
import { heatmap, stat, stateTimeline, table, timeseries } from '../grafana/panels.js';
import type { DashboardSpec, PanelSpec } from '../grafana/spec.js';
import {
  RANGE,
  RATE_WINDOW,
  datasourceVariable,
  dsel,
  instanceVariable,
  jobVariable,
} from '../grafana/variables.js';

const status: PanelSpec[] = [
  stat({
    title: 'daxmon up',
    description: "Prometheus's scrape of each daxmon target (job variable).",
    queries: [{ expr: dsel('up', { job: '$job' }), legend: '{{instance}}' }],
    unit: 'none',
    mappings: booleanMapping('up', 'down'),
    thresholds: goodFrom(1),
    core: true,
    w: 6,
    h: 5,
  }),
  table({
    title: 'Kernel',
    description:
      'Kernel release and the ZONE_DEVICE refcount model in force: old = FS DAX folios idle at refcount 1 (before 6.15), new = idle at 0.',
    queries: [{ expr: dsel('daxmon_kernel_info'), instant: true, format: 'table' }],
    hide: ['Value', 'job'],
    rename: { refcount_model: 'refcount model' },
    core: true,
    w: 8,
    h: 5,
  }),
  stat({
    title: 'Probes attached',
    description: 'Attached probes out of the probes daxmon selected for this kernel.',
    queries: [
      {
        expr: `${sum(dsel('daxmon_probe_attached'))} / ${count(dsel('daxmon_probe_attached'))}`,
        legend: 'attached',
      },
    ],
    unit: 'percentunit',
    thresholds: goodFrom(1, 0.5),
    core: true,
    w: 5,
    h: 5,
  }),
  stat({
    title: 'Events ingested',
    description: 'Events per second from all backends.',
    queries: [{ expr: sum(rate(dsel('daxmon_events_total'), RATE_WINDOW)) }],
    unit: 'cps',
    sparkline: true,
    core: true,
    w: 5,
    h: 5,
  }),
];

const probes: PanelSpec[] = [
  stateTimeline({
    title: 'Probe attachment',
    description:
      'Each probe over time: attached or not. A probe that never attaches usually means the kernel function is inlined or renamed on this release, or BTF is missing; daxmon doctor says which.',
    queries: [{ expr: dsel('daxmon_probe_attached'), legend: '{{backend}} {{probe}}' }],
    mappings: booleanMapping('attached', 'not attached'),
    core: true,
    w: 12,
    h: 9,
  }),
  stateTimeline({
    title: 'Checks active',
    description:
      'Each invariant check (V1–V11): active when every hook it needs attached on this kernel. Inactive checks cannot fire; /api/checks gives the missing hook.',
    queries: [{ expr: max(dsel('daxmon_check_active'), ['kind']), legend: '{{kind}}' }],
    mappings: booleanMapping('active', 'inactive'),
    core: true,
    w: 12,
    h: 9,
  }),
  timeseries({
    title: 'Violations suppressed',
    description:
      'New violations not reported (not journaled, not counted in daxmon_violations_total) because their kind exceeded its per-minute limit, per rate window. Non-zero means a flood: the API and journal show only the first ones of each minute.',
    queries: [
      {
        expr: sum(increase(dsel('daxmon_violations_suppressed_total'), RATE_WINDOW), ['kind']),
        legend: '{{kind}}',
      },
    ],
    unit: 'short',
    bars: true,
    w: 24,
    h: 7,
  }),
  timeseries({
    title: 'Confirmations before an alarm',
    description:
      'busy_wait_stuck candidates daxmon asked the kernel about (/proc) before raising them, per rate window: confirmed ones were raised; resynced ones were not (the task had gone or was not in the wait, e.g. its end event was missed).',
    queries: [
      {
        expr: sum(increase(dsel('daxmon_confirmations_total'), RATE_WINDOW), ['check', 'outcome']),
        legend: '{{check}} {{outcome}}',
      },
    ],
    unit: 'short',
    bars: true,
    w: 24,
    h: 7,
  }),
];

const backends: PanelSpec[] = [
  stateTimeline({
    title: 'Backend process',
    description: 'Whether each backend process (libbpf loader, bpftrace) is running.',
    queries: [{ expr: dsel('daxmon_backend_up'), legend: '{{instance}} {{backend}}' }],
    mappings: booleanMapping('running', 'stopped'),
    core: true,
    w: 8,
    h: 7,
  }),
  timeseries({
    title: 'Backend restarts',
    description:
      'Backend restarts per rate window. Each restart is a gap: state it could have changed becomes uncertain.',
    queries: [
      {
        expr: sum(increase(dsel('daxmon_backend_restarts_total'), RATE_WINDOW), ['backend']),
        legend: '{{backend}}',
      },
    ],
    unit: 'short',
    bars: true,
    w: 8,
    h: 7,
  }),
  timeseries({
    title: 'Lost events by backend',
    description:
      'Events the kernel side never delivered, per second, by reason: buffer (ring buffer full, bpftrace lost events) or recursion_miss (the kernel skipped a program run; docs/kernel-model.md §11).',
    queries: [
      {
        expr: sum(rate(dsel('daxmon_events_lost_total'), RATE_WINDOW), ['backend', 'reason']),
        legend: '{{backend}} {{reason}}',
      },
    ],
    unit: 'cps',
    w: 8,
    h: 7,
  }),
  timeseries({
    title: 'Skipped program runs by probe',
    description:
      'Program runs the kernel skipped per second (recursion_misses: a daxmon program was already running on that CPU; docs/kernel-model.md §11). Each is an event lost and makes the state its probe feeds uncertain until the next scan.',
    queries: [
      {
        expr: sum(rate(dsel('daxmon_probe_missed_total'), RATE_WINDOW), ['backend', 'probe']),
        legend: '{{backend}} {{probe}}',
      },
    ],
    unit: 'cps',
    w: 12,
    h: 7,
  }),
  table({
    title: 'Program runs',
    description:
      "The kernel's run count per attached program (bpf_prog_info.run_cnt; empty when run statistics are off), with the misses above the denominator of misses per million runs.",
    queries: [
      {
        expr: max(dsel('daxmon_program_runs'), ['backend', 'probe', 'program']),
        instant: true,
        format: 'table',
      },
    ],
    hide: ['Time'],
    rename: { Value: 'runs' },
    w: 12,
    h: 7,
  }),
];

const scan: PanelSpec[] = [
  heatmap({
    title: 'Scan duration',
    description:
      'Duration of the periodic struct-page scans that re-read _refcount and _mapcount of tracked folios.',
    queries: [
      {
        expr: sum(rate(dsel('daxmon_scan_duration_seconds_bucket'), RATE_WINDOW), ['le']),
        legend: '{{le}}',
        format: 'heatmap',
      },
    ],
    unit: 's',
    w: 8,
    h: 8,
  }),
  timeseries({
    title: 'Scan duration quantiles',
    description: 'p50 and p99 of struct-page scan durations.',
    queries: [0.5, 0.99].map((q) => ({
      expr: quantile(q, dsel('daxmon_scan_duration_seconds_bucket'), RATE_WINDOW),
      legend: `p${Math.round(q * 100)}`,
    })),
    unit: 's',
    w: 8,
    h: 8,
  }),
  timeseries({
    title: 'Struct pages scanned',
    description: 'Struct pages read by scans per second.',
    queries: [{ expr: sum(rate(dsel('daxmon_scan_pages_total'), RATE_WINDOW)), legend: 'pages' }],
    unit: 'cps',
    core: true,
    w: 8,
    h: 8,
  }),
  timeseries({
    title: 'Scan drift by field',
    description:
      "Scanned values that disagreed with daxmon's model, per rate window: refcount, mapcount or the derived state. Occasional drift is a race with an in-flight event; steady drift means events are being missed (lost events, a probe not attached) or a model bug.",
    queries: [
      {
        expr: sum(increase(dsel('daxmon_scan_drift_total'), RATE_WINDOW), ['field']),
        legend: '{{field}}',
      },
    ],
    unit: 'short',
    bars: true,
    w: 8,
    h: 7,
  }),
  stat({
    title: 'Last successful scan',
    description: 'Time since the last struct-page scan finished.',
    queries: [{ expr: `time() - ${max(dsel('daxmon_scan_last_success_timestamp_seconds'))}` }],
    unit: 'dtdurations',
    w: 4,
    h: 7,
  }),
  stat({
    title: 'Journal write errors in range',
    description:
      'Failed writes to the violation journal: violations still reach /metrics and the API, but may not survive a restart. Check disk space and permissions of the journal directory.',
    queries: [{ expr: sum(increase(dsel('daxmon_journal_write_errors_total'), RANGE)), instant: true }],
    unit: 'short',
    thresholds: badAbove(1),
    core: true,
    w: 4,
    h: 7,
  }),
  stat({
    title: 'Journal damaged records',
    description:
      'Journal records found damaged (bad checksum or JSON) when daxmon last started: skipped, their ids reserved, and counted in /api/violations (damagedRecords). Non-zero means the disk or the filesystem changed the journal; the daxmon log names the directory.',
    queries: [{ expr: sum(dsel('daxmon_journal_damaged_records_total')), instant: true }],
    unit: 'short',
    thresholds: badAbove(1),
    w: 4,
    h: 7,
  }),
  stat({
    title: 'Journal records dropped in range',
    description:
      'Violation journal records dropped from the in-memory backlog (16 MiB) while the disk refused writes: those updates are not in the journal (a lost record marks the gap once the disk takes writes again). Free space in the journal directory.',
    queries: [{ expr: sum(increase(dsel('daxmon_journal_dropped_records_total'), RANGE)), instant: true }],
    unit: 'short',
    thresholds: badAbove(1),
    w: 4,
    h: 7,
  }),
  stat({
    title: 'Recording events dropped in range',
    description:
      'Events --record could not write because its file did not keep up (the recording marks each gap with events_lost). Zero unless a recording runs on a slow disk.',
    queries: [{ expr: sum(increase(dsel('daxmon_recording_dropped_events_total'), RANGE)), instant: true }],
    unit: 'short',
    thresholds: badAbove(1),
    w: 4,
    h: 7,
  }),
  timeseries({
    title: 'Tracked folios',
    description: 'Folios with state in daxmon: what its memory use scales with.',
    queries: [{ expr: sum(dsel('daxmon_tracked_folios'), ['instance']), legend: '{{instance}}' }],
    unit: 'short',
    core: true,
    w: 8,
    h: 7,
  }),
  timeseries({
    title: 'State memory',
    description:
      "Bytes held by daxmon's folio store and event history ring: the part of its memory that grows with the folios it tracks (--max-folios bounds it).",
    queries: [{ expr: sum(dsel('daxmon_state_bytes'), ['instance']), legend: '{{instance}}' }],
    unit: 'bytes',
    core: true,
    w: 8,
    h: 7,
  }),
  timeseries({
    title: 'Folio evictions',
    description:
      'Idle folios dropped from tracking per rate window to stay under --max-folios. An evicted folio that comes back starts uncertain; steady evictions mean --max-folios is too small for the pmem in use.',
    queries: [{ expr: sum(increase(dsel('daxmon_folio_evictions_total'), RATE_WINDOW)), legend: 'evicted' }],
    unit: 'short',
    bars: true,
    w: 8,
    h: 7,
  }),
];

const process: PanelSpec[] = [
  timeseries({
    title: 'CPU',
    description: 'CPU time used by the daxmon Node process (not the backend processes), in cores.',
    queries: [
      {
        expr: sum(rate(dsel('process_cpu_seconds_total'), RATE_WINDOW), ['instance']),
        legend: '{{instance}}',
      },
    ],
    unit: 'percentunit',
    core: true,
    w: 8,
    h: 7,
  }),
  timeseries({
    title: 'Memory',
    description: 'Resident set size and V8 heap used of the daxmon process.',
    queries: [
      { expr: dsel('process_resident_memory_bytes'), legend: 'rss {{instance}}' },
      { expr: dsel('nodejs_heap_size_used_bytes'), legend: 'heap used {{instance}}' },
    ],
    unit: 'bytes',
    core: true,
    w: 8,
    h: 7,
  }),
  timeseries({
    title: 'Event loop lag',
    description:
      'Event loop delay. Ingest runs on this loop: sustained lag here is where backpressure and lost events start.',
    queries: [
      { expr: dsel('nodejs_eventloop_lag_p99_seconds'), legend: 'p99 {{instance}}' },
      { expr: dsel('nodejs_eventloop_lag_seconds'), legend: 'sampled {{instance}}' },
    ],
    unit: 's',
    core: true,
    w: 8,
    h: 7,
  }),
];

export const health: DashboardSpec = {
  uid: 'daxmon-health',
  title: 'daxmon / Health',
  description: "daxmon's own health: probes, backends, lost events, scans, journal and process.",
  file: 'daxmon-health.json',
  variables: [datasourceVariable(), jobVariable(), instanceVariable()],
  rows: [
    { title: 'Status', panels: status },
    { title: 'Probes and checks', panels: probes },
    { title: 'Backends', panels: backends },
    { title: 'Scans, journal and state size', panels: scan },
    { title: 'Process', panels: process },
  ],
};
