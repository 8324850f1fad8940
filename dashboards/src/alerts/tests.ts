/**
 * promtool unit tests for every rule in rules.ts, rendered to dashboards/alerts.test.yml. Each group
 * names the rule it is about and has at least one evaluation where the alert fires and one where it
 * must not; test/dashboards checks that every rule has both.
 *
 * Series notation is promtool's: `_x5` is five missing samples, `1x20` is 1 for 21 samples,
 * `0+1x30` counts up by one per interval.
 */
import { VIOLATION_KINDS } from '../metrics-contract.js';
import type { SeriesName, ViolationKind } from '../metrics-contract.js';
import { selector } from '../promql.js';
import type { Matchers } from '../promql.js';
import { JOB } from './rules.js';

export type Labels = Readonly<Record<string, string>>;

export interface InputSeries {
  readonly series: string;
  readonly values: string;
}

export interface AlertEval {
  readonly at: string;
  readonly alert: string;
  /** Label sets of the alerts expected to be firing (without alertname); empty = must not fire. */
  readonly firing: readonly Labels[];
}

export interface AlertTestGroup {
  readonly name: string;
  /** AlertRule.id this group is about. */
  readonly rule: string;
  readonly series: readonly InputSeries[];
  readonly evals: readonly AlertEval[];
}

const INSTANCE = 'pmem-host:9477';
const TARGET: Labels = { job: JOB, instance: INSTANCE };

const input = (name: SeriesName, m: Matchers, values: string): InputSeries => ({
  series: selector(name, { ...TARGET, ...m }),
  values,
});

const fires = (at: string, alert: string, ...labels: Labels[]): AlertEval => ({
  at,
  alert,
  firing: labels.map((l) => ({ ...TARGET, ...l })),
});
const silent = (at: string, alert: string): AlertEval => ({ at, alert, firing: [] });

function violationGroups(kind: ViolationKind, alert: string, rule: string): AlertTestGroup[] {
  const v = (severity: string, values: string): InputSeries =>
    input('daxmon_violations_total', { kind, severity }, values);
  return [
    {
      name: `${kind}: a counter created by its first violation fires at once, and clears ten quiet minutes later`,
      rule,
      series: [v('error', '_x5 1x30')],
      evals: [
        silent('4m', alert),
        fires('6m', alert, { kind, severity: 'critical' }),
        fires('14m', alert, { kind, severity: 'critical' }),
        silent('20m', alert),
      ],
    },
    {
      name: `${kind}: a zero-initialised counter that steps up fires; warning stays warning`,
      rule,
      series: [v('error', '0x40'), v('warning', '0x10 2x30')],
      evals: [silent('9m', alert), fires('12m', alert, { kind, severity: 'warning' }), silent('30m', alert)],
    },
  ];
}

/** DaxmonViolation rules must not answer for each other's kinds. */
const crossKind: AlertTestGroup = {
  name: 'DaxmonViolation: a counter reset by a daxmon restart still fires, once per kind and severity',
  rule: 'violation:map_zero_ref',
  series: [
    input('daxmon_violations_total', { kind: 'map_zero_ref', severity: 'error' }, '3x10 _x3 1x20'),
    input('daxmon_violations_total', { kind: 'longterm_pin_on_fsdax', severity: 'error' }, '5x40'),
  ],
  evals: [
    silent('10m', 'DaxmonViolation'),
    fires('16m', 'DaxmonViolation', { kind: 'map_zero_ref', severity: 'critical' }),
    silent('30m', 'DaxmonViolation'),
  ],
};

const unknownKind: AlertTestGroup = {
  name: 'DaxmonViolation: a kind these rules do not know still fires, with the generic runbook',
  rule: 'violation:unknown-kind',
  series: [
    {
      series: selector('daxmon_violations_total', { ...TARGET, kind: 'future_kind', severity: 'error' }),
      values: '_x2 1x20',
    },
  ],
  evals: [
    silent('1m', 'DaxmonViolation'),
    fires('3m', 'DaxmonViolation', { kind: 'future_kind', severity: 'critical' }),
    silent('20m', 'DaxmonViolation'),
  ],
};

const busyWait: AlertTestGroup[] = [
  {
    name: 'DaxmonBusyPageWaitStuck: a wait older than the threshold fires and clears when the wait ends',
    rule: 'busy-wait-stuck',
    series: [input('daxmon_busy_wait_oldest_seconds', {}, '0 0 30 90 150 0 0')],
    evals: [
      silent('2m', 'DaxmonBusyPageWaitStuck'),
      fires('3m', 'DaxmonBusyPageWaitStuck', {}),
      silent('5m', 'DaxmonBusyPageWaitStuck'),
    ],
  },
  {
    name: 'DaxmonBusyPageWaitStuck: waits that finish before the threshold stay quiet',
    rule: 'busy-wait-stuck',
    series: [input('daxmon_busy_wait_oldest_seconds', {}, '0 12 45 59 0 15 0')],
    evals: [
      silent('1m', 'DaxmonBusyPageWaitStuck'),
      silent('3m', 'DaxmonBusyPageWaitStuck'),
      silent('5m', 'DaxmonBusyPageWaitStuck'),
    ],
  },
];

const monitor: AlertTestGroup[] = [
  {
    name: 'DaxmonDown: two minutes of failed scrapes fire',
    rule: 'daxmon-down',
    series: [input('up', {}, '1x4 0x10')],
    evals: [silent('3m', 'DaxmonDown'), silent('5m', 'DaxmonDown'), fires('7m', 'DaxmonDown', {})],
  },
  {
    name: 'DaxmonDown: a single failed scrape does not',
    rule: 'daxmon-down',
    series: [input('up', {}, '1 1 0 1 1 0 1 1')],
    evals: [silent('2m', 'DaxmonDown'), silent('4m', 'DaxmonDown'), silent('6m', 'DaxmonDown')],
  },
  {
    name: 'DaxmonTargetMissing: no daxmon job for ten minutes fires; a present job does not',
    rule: 'target-missing',
    series: [
      { series: selector('up', { job: 'node', instance: INSTANCE }), values: '1x30' },
      { series: selector('up', { job: JOB, instance: 'other-host:9477' }), values: '1x5 _x25' },
    ],
    evals: [
      silent('4m', 'DaxmonTargetMissing'),
      silent('12m', 'DaxmonTargetMissing'),
      { at: '22m', alert: 'DaxmonTargetMissing', firing: [{ job: JOB }] },
    ],
  },
  {
    name: 'DaxmonProbeNotAttached: a probe detached for five minutes fires; a late attach does not',
    rule: 'probe-not-attached',
    series: [
      input('daxmon_probe_attached', { probe: 'dax_insert_entry', backend: 'libbpf' }, '0x20'),
      input('daxmon_probe_attached', { probe: 'memunmap_pages', backend: 'libbpf' }, '0 0 1x20'),
    ],
    evals: [
      silent('3m', 'DaxmonProbeNotAttached'),
      fires('6m', 'DaxmonProbeNotAttached', { probe: 'dax_insert_entry', backend: 'libbpf' }),
    ],
  },
  {
    name: 'DaxmonBackendDown: a stopped backend that owns probes fires; an unused one does not',
    rule: 'backend-down',
    series: [
      input('daxmon_backend_up', { backend: 'libbpf' }, '1x3 0x20'),
      input('daxmon_backend_up', { backend: 'bpftrace' }, '0x20'),
      input('daxmon_probe_attached', { probe: 'dax_insert_entry', backend: 'libbpf' }, '1x3 0x20'),
    ],
    evals: [silent('4m', 'DaxmonBackendDown'), fires('6m', 'DaxmonBackendDown', { backend: 'libbpf' })],
  },
  {
    name: 'DaxmonBackendRestarting: more than two restarts in 15 minutes fire; an old burst does not',
    rule: 'backend-restarting',
    series: [input('daxmon_backend_restarts_total', { backend: 'bpftrace' }, '0 1 2 3 4x40')],
    evals: [
      silent('2m', 'DaxmonBackendRestarting'),
      fires('5m', 'DaxmonBackendRestarting', { backend: 'bpftrace' }),
      silent('30m', 'DaxmonBackendRestarting'),
    ],
  },
  {
    name: 'DaxmonEventsLost: lost events fire at once, including on a counter created by the loss',
    rule: 'events-lost',
    series: [
      input('daxmon_events_lost_total', { backend: 'libbpf' }, '0x5 40x30'),
      input('daxmon_events_lost_total', { backend: 'bpftrace' }, '_x3 7x30'),
    ],
    evals: [
      silent('2m', 'DaxmonEventsLost'),
      fires('4m', 'DaxmonEventsLost', { backend: 'bpftrace' }),
      fires('7m', 'DaxmonEventsLost', { backend: 'bpftrace' }, { backend: 'libbpf' }),
      silent('25m', 'DaxmonEventsLost'),
    ],
  },
  {
    name: 'DaxmonScanDrift: steady drift fires after 15 minutes; one drift is noise',
    rule: 'scan-drift',
    series: [
      input('daxmon_scan_drift_total', { field: 'refcount' }, '0+1x60'),
      input('daxmon_scan_drift_total', { field: 'mapcount' }, '0x5 1x55'),
    ],
    evals: [
      silent('10m', 'DaxmonScanDrift'),
      fires('20m', 'DaxmonScanDrift', { field: 'refcount' }),
      fires('40m', 'DaxmonScanDrift', { field: 'refcount' }),
    ],
  },
  {
    name: 'DaxmonJournalWriteErrors: a failed write fires; a clean journal does not',
    rule: 'journal-write-errors',
    series: [input('daxmon_journal_write_errors_total', {}, '0x5 1x30')],
    evals: [
      silent('4m', 'DaxmonJournalWriteErrors'),
      fires('7m', 'DaxmonJournalWriteErrors', {}),
      silent('25m', 'DaxmonJournalWriteErrors'),
    ],
  },
];

export const ALERT_TESTS: readonly AlertTestGroup[] = [
  ...VIOLATION_KINDS.flatMap((kind) =>
    kind === 'teardown_with_live_folios'
      ? violationGroups(kind, 'DaxmonPgmapTeardownWithLiveFolios', 'pgmap-teardown-live-folios')
      : violationGroups(kind, 'DaxmonViolation', `violation:${kind}`),
  ),
  crossKind,
  unknownKind,
  ...busyWait,
  ...monitor,
];
