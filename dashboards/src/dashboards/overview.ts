/**
 * Overview: is the kernel keeping its ZONE_DEVICE refcount promises on these hosts, and can daxmon see
 * enough to tell? Violations first, then the event flow, pgmaps and folio states, the two waits that
 * hang tasks (busy-page layout breaks, pgmap teardown), and the events daxmon never saw.
 */
import { count, increase, max, quantile, rate, re, sum } from '../promql.js';
import { badAbove, goodFrom } from '../grafana/fields.js';
import { bargauge, heatmap, stat, table, timeseries } from '../grafana/panels.js';
import type { DashboardSpec, PanelSpec } from '../grafana/spec.js';
import {
  RANGE,
  RATE_WINDOW,
  datasourceVariable,
  dsel,
  instanceVariable,
  jobVariable,
} from '../grafana/variables.js';

/** Busy-page wait ages at which daxmon emits busy_wait_stuck warning and error violations (defaults). */
export const BUSY_WAIT_WARN_SECONDS = 10;
export const BUSY_WAIT_ERROR_SECONDS = 60;

const atAGlance: PanelSpec[] = [
  stat({
    title: 'Targets up',
    description:
      'daxmon targets whose last scrape succeeded (`up` of the scrape job named in the job variable).',
    queries: [{ expr: sum(dsel('up', { job: '$job' })), legend: 'up' }],
    unit: 'none',
    core: true,
    w: 3,
    h: 4,
  }),
  stat({
    title: 'Violations in range',
    description:
      'Refcount-model violations (docs/kernel-model.md §5) over the dashboard range. Any non-zero value deserves a look at /api/violations.',
    queries: [{ expr: sum(increase(dsel('daxmon_violations_total'), RANGE)), instant: true }],
    unit: 'short',
    thresholds: badAbove(1),
    reducer: 'lastNotNull',
    w: 3,
    h: 4,
  }),
  stat({
    title: 'Lost events in range',
    description:
      'Events the kernel side dropped (ring buffer full, bpftrace lost). State touched by a gap is marked uncertain instead of raising false alarms, but real violations in the gap are missed.',
    queries: [{ expr: sum(increase(dsel('daxmon_events_lost_total'), RANGE)), instant: true }],
    unit: 'short',
    thresholds: badAbove(1),
    w: 3,
    h: 4,
  }),
  stat({
    title: 'pgmaps',
    description: 'dev_pagemaps (ZONE_DEVICE ranges) daxmon knows about.',
    queries: [{ expr: sum(dsel('daxmon_pgmaps')) }],
    unit: 'none',
    core: true,
    sparkline: true,
    w: 3,
    h: 4,
  }),
  stat({
    title: 'Tracked folios',
    description: 'Folios with state in daxmon (the ones a probe has seen mapped, pinned or referenced).',
    queries: [{ expr: sum(dsel('daxmon_tracked_folios')) }],
    unit: 'short',
    core: true,
    sparkline: true,
    w: 3,
    h: 4,
  }),
  stat({
    title: 'Open busy-page waits',
    description:
      'truncate/hole punch callers currently sleeping in the DAX layout break until busy pages drop their extra references.',
    queries: [{ expr: sum(dsel('daxmon_busy_waits_open')) }],
    unit: 'none',
    core: true,
    w: 3,
    h: 4,
  }),
  stat({
    title: 'Oldest busy-page wait',
    description: `Age of the oldest open layout-break wait. daxmon warns at ${BUSY_WAIT_WARN_SECONDS} s and reports busy_wait_stuck at ${BUSY_WAIT_ERROR_SECONDS} s: the waiter sleeps TASK_UNINTERRUPTIBLE.`,
    queries: [{ expr: max(dsel('daxmon_busy_wait_oldest_seconds')) }],
    unit: 's',
    core: true,
    thresholds: badAbove(BUSY_WAIT_ERROR_SECONDS, BUSY_WAIT_WARN_SECONDS),
    w: 3,
    h: 4,
  }),
  stat({
    title: 'Checks active',
    description:
      'Invariant checks that have every hook they need on this kernel, out of all checks. See the health dashboard or /api/checks for which are inactive and why.',
    queries: [
      {
        expr: `${sum(dsel('daxmon_check_active'))} / ${count(dsel('daxmon_check_active'))}`,
        legend: 'active',
      },
    ],
    unit: 'percentunit',
    core: true,
    thresholds: goodFrom(1, 0.5),
    w: 3,
    h: 4,
  }),
];

const violations: PanelSpec[] = [
  timeseries({
    title: 'Violations by kind and severity',
    description:
      'Violations detected in each rate window, by kind (V1–V11) and severity. Bars, because each is a discrete event; details with pfn, pgmap and stack are in /api/violations and the journal.',
    queries: [
      {
        expr: sum(increase(dsel('daxmon_violations_total'), RATE_WINDOW), ['kind', 'severity']),
        legend: '{{kind}} ({{severity}})',
      },
    ],
    unit: 'short',
    bars: true,
    stack: true,
    legendTable: true,
    w: 16,
    h: 9,
  }),
  bargauge({
    title: 'Violations in range by kind',
    description: 'Totals over the dashboard range, worst first.',
    queries: [
      {
        expr: `sort_desc(${sum(increase(dsel('daxmon_violations_total'), RANGE), ['kind', 'severity'])})`,
        legend: '{{kind}} ({{severity}})',
        instant: true,
      },
    ],
    unit: 'short',
    thresholds: badAbove(1),
    w: 8,
    h: 9,
  }),
];

const events: PanelSpec[] = [
  timeseries({
    title: 'Event rate by type',
    description:
      'Events ingested from the probes per second, by type: pgmap lifecycle, DAX faults and entries, folio map/unmap/put, GUP, busy-page and layout-break spans, refcount samples.',
    queries: [
      {
        expr: sum(rate(dsel('daxmon_events_total'), RATE_WINDOW), ['type']),
        legend: '{{type}}',
      },
    ],
    unit: 'cps',
    core: true,
    legendTable: true,
    w: 16,
    h: 9,
  }),
  timeseries({
    title: 'FOLL_LONGTERM pins refused',
    description:
      'Long-term GUP pins the kernel refused on FS DAX (check_vma_flags returning -EOPNOTSUPP). This is the kernel doing its job; a pin that succeeds is the longterm_pin_on_fsdax violation.',
    queries: [
      {
        expr: sum(rate(dsel('daxmon_gup_longterm_refused_total'), RATE_WINDOW)),
        legend: 'refused',
      },
    ],
    unit: 'cps',
    core: true,
    w: 8,
    h: 9,
  }),
];

const pgmaps: PanelSpec[] = [
  timeseries({
    title: 'Folios by state',
    description:
      'Tracked folios by state across the selected pgmaps. "uncertain" folios are ones whose refcount daxmon cannot vouch for after lost events or a backend restart.',
    queries: [
      {
        expr: sum(dsel('daxmon_pgmap_folios'), ['state']),
        legend: '{{state}}',
      },
    ],
    unit: 'short',
    stack: true,
    core: true,
    w: 12,
    h: 9,
  }),
  table({
    title: 'pgmaps and their folios',
    description:
      'Known dev_pagemaps with their type and device, and their folios by state right now. Click a pgmap id to open the drill-down.',
    queries: [
      {
        expr: `${sum(dsel('daxmon_pgmap_folios'), ['instance', 'pgmap', 'state'])} * on (instance, pgmap) group_left (type, device) ${dsel('daxmon_pgmap_info')}`,
        instant: true,
        format: 'table',
      },
    ],
    unit: 'short',
    hide: ['job'],
    rename: { Value: 'folios' },
    links: {
      pgmap: {
        title: 'Open pgmap drill-down',
        url: '/d/daxmon-pgmap/daxmon-pgmap?${__url_time_range}&${datasource:queryparam}&var-instance=${__data.fields.instance}&var-pgmap=${__data.fields.pgmap}',
      },
    },
    core: true,
    w: 12,
    h: 9,
  }),
  timeseries({
    title: 'Uncertain folios',
    description:
      'Folios in the uncertain state: checks on them are suspended until a fresh refcount sample or scan brings them back. A rise follows lost events and backend restarts.',
    queries: [
      { expr: sum(dsel('daxmon_pgmap_folios', { state: 'uncertain' }), ['pgmap']), legend: '{{pgmap}}' },
    ],
    unit: 'short',
    w: 12,
    h: 7,
  }),
  timeseries({
    title: 'pgmap lifecycle events',
    description:
      'memremap_pages registrations and memunmap_pages teardowns (begin, percpu ref released, done) per second.',
    queries: [
      {
        expr: sum(
          rate(
            dsel('daxmon_events_total', {
              type: re('pgmap_registered|pgmap_teardown_begin|pgmap_ref_released|pgmap_teardown_done'),
            }),
            RATE_WINDOW,
          ),
          ['type'],
        ),
        legend: '{{type}}',
      },
    ],
    unit: 'cps',
    w: 12,
    h: 7,
  }),
];

const waits: PanelSpec[] = [
  heatmap({
    title: 'Busy-page wait duration',
    description:
      'Finished layout-break waits (truncate and hole punch waiting for busy DAX pages to go idle), per duration bucket. Only finished waits appear here; open ones are in "Oldest open busy-page wait".',
    queries: [
      {
        expr: sum(rate(dsel('daxmon_busy_page_wait_seconds_bucket'), RATE_WINDOW), ['le']),
        legend: '{{le}}',
        format: 'heatmap',
      },
    ],
    unit: 's',
    w: 8,
    h: 9,
  }),
  timeseries({
    title: 'Busy-page wait quantiles',
    description: 'p50, p90 and p99 of finished busy-page waits.',
    queries: [0.5, 0.9, 0.99].map((q) => ({
      expr: quantile(q, dsel('daxmon_busy_page_wait_seconds_bucket'), RATE_WINDOW),
      legend: `p${Math.round(q * 100)}`,
    })),
    unit: 's',
    w: 8,
    h: 9,
  }),
  timeseries({
    title: 'Oldest open busy-page wait',
    description: `Age of the oldest layout-break wait still in progress, per instance. The dashed lines are the ${BUSY_WAIT_WARN_SECONDS} s warning and ${BUSY_WAIT_ERROR_SECONDS} s busy_wait_stuck thresholds.`,
    queries: [
      { expr: max(dsel('daxmon_busy_wait_oldest_seconds'), ['instance']), legend: 'oldest {{instance}}' },
    ],
    unit: 's',
    thresholds: badAbove(BUSY_WAIT_ERROR_SECONDS, BUSY_WAIT_WARN_SECONDS),
    core: true,
    w: 8,
    h: 9,
  }),
  heatmap({
    title: 'pgmap teardown duration',
    description:
      'memunmap_pages from begin to done: the kernel waits for the pgmap percpu ref to drop. FS DAX folios hold no pgmap ref, so a fast teardown with live folios is the teardown_with_live_folios violation, not a success.',
    queries: [
      {
        expr: sum(rate(dsel('daxmon_pgmap_teardown_seconds_bucket'), RATE_WINDOW), ['le']),
        legend: '{{le}}',
        format: 'heatmap',
      },
    ],
    unit: 's',
    w: 12,
    h: 8,
  }),
  timeseries({
    title: 'pgmap teardown quantiles',
    description: 'p50 and p99 of pgmap teardown durations.',
    queries: [0.5, 0.99].map((q) => ({
      expr: quantile(q, dsel('daxmon_pgmap_teardown_seconds_bucket'), RATE_WINDOW),
      legend: `p${Math.round(q * 100)}`,
    })),
    unit: 's',
    w: 12,
    h: 8,
  }),
];

const lost: PanelSpec[] = [
  timeseries({
    title: 'Lost events by backend',
    description:
      'Events dropped before daxmon read them, per second. The libbpf backend loses them when the ring buffer is full; bpftrace reports "Lost N events". Raise the ring size or reduce probe load.',
    queries: [
      { expr: sum(rate(dsel('daxmon_events_lost_total'), RATE_WINDOW), ['backend']), legend: '{{backend}}' },
    ],
    unit: 'cps',
    w: 12,
    h: 7,
  }),
  timeseries({
    title: 'Lost events, share of all',
    description: 'Lost events as a share of lost plus ingested events.',
    queries: [
      {
        expr: `${sum(rate(dsel('daxmon_events_lost_total'), RATE_WINDOW))} / (${sum(rate(dsel('daxmon_events_lost_total'), RATE_WINDOW))} + ${sum(rate(dsel('daxmon_events_total'), RATE_WINDOW))})`,
        legend: 'lost share',
      },
    ],
    unit: 'percentunit',
    w: 12,
    h: 7,
  }),
];

export const overview: DashboardSpec = {
  uid: 'daxmon-overview',
  title: 'daxmon / Overview',
  description:
    'ZONE_DEVICE folio and dev_pagemap refcounting on FS DAX / device-dax hosts: violations, events, pgmaps, busy-page waits, teardowns and lost events.',
  file: 'daxmon-overview.json',
  variables: [datasourceVariable(), jobVariable(), instanceVariable()],
  rows: [
    { title: 'At a glance', panels: atAGlance },
    { title: 'Violations', panels: violations },
    { title: 'Events', panels: events },
    { title: 'pgmaps and folio states', panels: pgmaps },
    { title: 'Busy-page waits and pgmap teardowns', panels: waits },
    { title: 'Lost events', panels: lost },
  ],
};
