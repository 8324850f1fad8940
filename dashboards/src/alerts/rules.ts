/**
 * Prometheus alerting rules for daxmon, rendered to dashboards/alerts.yml.
 *
 * Severity policy: `critical` when the kernel broke a refcount invariant at error severity, a task is
 * stuck in an uninterruptible layout-break wait, or daxmon is blind (down, backend down); `warning`
 * when visibility is degraded (probes, lost events, drift, journal) or daxmon itself graded the
 * violation a warning.
 *
 * Annotations may use `{{ $labels.<name> }}` and nothing else from Go templates: the promtool tests
 * are generated with the annotations rendered in TypeScript, and that renderer knows only this.
 */
import { VIOLATION_KINDS } from '../metrics-contract.js';
import type { SeriesName, ViolationKind } from '../metrics-contract.js';
import { count, increase, max, notRe, oneOf, selector, sum } from '../promql.js';
import type { Matchers } from '../promql.js';
import { KIND_GUIDES } from './violation-kinds.js';

export type Severity = 'critical' | 'warning';

export interface AlertRule {
  /** Unique per rule (several rules share the alertname DaxmonViolation, one per kind). */
  readonly id: string;
  readonly group: string;
  readonly alert: string;
  /** The violation kind a DaxmonViolation rule is about; unset for the catch-all and other alerts. */
  readonly kind?: ViolationKind;
  readonly expr: string;
  /** Omitted when the condition is itself an age or a count of discrete events: see each rule. */
  readonly for?: string;
  /** Fixed severity, or `null` when the expression derives it from the violation's own severity. */
  readonly severity: Severity | null;
  /** Further static labels. Violation rules carry `invariant` (V1–V11), for routing and to tell apart. */
  readonly labels?: Readonly<Record<string, string>>;
  readonly summary: string;
  readonly description: string;
  readonly runbook: string;
}

/** The scrape job alerts use for `up`; users with another job name edit alerts.yml (see docs). */
export const JOB = 'daxmon';
/** Window in which a counted event keeps its alert firing. */
export const EVENT_WINDOW = '10m';
/** daxmon's default busy_wait_stuck error threshold (its warning is at 10 s). */
export const BUSY_WAIT_STUCK_SECONDS = 60;

const API = 'http://{{ $labels.instance }}';
const BY = ['job', 'instance'] as const;

/**
 * Counter series that counted at least one event in `window`. increase() cannot see the first
 * event of a series that is created by that event (no earlier sample to diff against), so the second
 * arm takes series that are non-zero now and had no sample `window` ago. The price: when Prometheus
 * first scrapes a daxmon that already counted events, the alert fires once for `window`.
 */
export function counted(name: SeriesName, m: Matchers, window: string, by: readonly string[]): string {
  const s = selector(name, m);
  return sum(`(${increase(s, window)} > 0) or (${s} > 0 unless ${s} offset ${window})`, by);
}

/** daxmon grades violations warning | error; alert routing speaks warning | critical. */
const severityFromViolation = (expr: string): string =>
  `label_replace(${expr}, "severity", "critical", "severity", "error")`;

const runbook = (steps: readonly string[]): string => steps.map((s, i) => `${i + 1}. ${s}`).join('\n');

/** `kind` is a known kind (filterable in the API), or undefined for the catch-all rule. */
const commonViolationSteps = (kind?: ViolationKind): string[] => [
  kind
    ? `GET ${API}/api/violations?kind=${kind} and read the entries: pfn, pgmap, the refcount and mapcount daxmon read, the event that triggered the check, and the symbolized kernel stack.`
    : `GET ${API}/api/violations and read the {{ $labels.kind }} entries: pfn, pgmap, the refcount and mapcount daxmon read, the event that triggered the check, and the symbolized kernel stack.`,
  `GET ${API}/api/checks to confirm the check had all its hooks, and look at lost events on the daxmon health dashboard: a violation right after a gap deserves suspicion.`,
  "The violation journal (daxmon's append-only NDJSON file) keeps the same records across restarts; attach the entries to any kernel bug report.",
  'dmesg -T around the violation time for WARN/BUG output from mm/memremap.c, mm/gup.c or fs/dax.c.',
];

function violationRule(kind: ViolationKind): AlertRule {
  const g = KIND_GUIDES[kind];
  const dedicated = kind === 'teardown_with_live_folios';
  return {
    id: dedicated ? 'pgmap-teardown-live-folios' : `violation:${kind}`,
    group: 'daxmon-violations',
    alert: dedicated ? 'DaxmonPgmapTeardownWithLiveFolios' : 'DaxmonViolation',
    kind,
    // Each violation is a discrete, already de-duplicated kernel event: no `for`, fire at once.
    expr: severityFromViolation(
      counted('daxmon_violations_total', { kind }, EVENT_WINDOW, [...BY, 'kind', 'severity']),
    ),
    severity: null,
    labels: { invariant: g.id },
    summary: `${g.title} ({{ $labels.kind }}, ${g.id}) on {{ $labels.instance }}`,
    description: `daxmon on {{ $labels.instance }} reported a {{ $labels.kind }} violation (${g.id}) in the last ${EVENT_WINDOW}. ${g.meaning}`,
    runbook: runbook([...commonViolationSteps(kind), ...g.look]),
  };
}

/** Kinds this version does not know still alert, with the generic runbook. */
const unknownKindRule: AlertRule = {
  id: 'violation:unknown-kind',
  group: 'daxmon-violations',
  alert: 'DaxmonViolation',
  expr: severityFromViolation(
    counted('daxmon_violations_total', { kind: notRe(oneOf(VIOLATION_KINDS)) }, EVENT_WINDOW, [
      ...BY,
      'kind',
      'severity',
    ]),
  ),
  severity: null,
  summary: 'daxmon violation {{ $labels.kind }} on {{ $labels.instance }}',
  description:
    'daxmon on {{ $labels.instance }} reported a {{ $labels.kind }} violation, a kind these alert rules do not describe yet (newer daxmon?). See docs/kernel-model.md §5 of that daxmon version.',
  runbook: runbook(commonViolationSteps()),
};

const busyWaitStuck: AlertRule = {
  id: 'busy-wait-stuck',
  group: 'daxmon-waits',
  alert: 'DaxmonBusyPageWaitStuck',
  // The gauge is itself an age that only grows while the wait is open, so one sample above the
  // threshold is already "stuck for 60 s"; a `for` would only push the page past hung_task_timeout.
  // The histogram cannot be used: it only sees waits that finished.
  expr: `${max(selector('daxmon_busy_wait_oldest_seconds'), BY)} > ${BUSY_WAIT_STUCK_SECONDS}`,
  severity: 'critical',
  summary: `Busy-page layout-break wait open for over ${BUSY_WAIT_STUCK_SECONDS} s on {{ $labels.instance }}`,
  description: `A truncate or hole punch on {{ $labels.instance }} has been waiting more than ${BUSY_WAIT_STUCK_SECONDS} s for busy DAX pages to drop their extra references. The task sleeps TASK_UNINTERRUPTIBLE and cannot be killed until the pages go idle.`,
  runbook: runbook([
    `GET ${API}/api/violations?kind=busy_wait_stuck (a warning at 10 s, an error at the threshold): the file, the busy pfn and its refcount minus mapcount.`,
    ...KIND_GUIDES.busy_wait_stuck.look,
    'If a process holds the pin, stopping it (or deregistering the RDMA memory region) releases the page and the wait finishes; the truncate then completes normally.',
    `GET ${API}/api/checks: on old kernels without the layout-break hooks this alert can only see waits that daxmon's probes bracket.`,
  ]),
};

const daxmonDown: AlertRule = {
  id: 'daxmon-down',
  group: 'daxmon-monitor',
  alert: 'DaxmonDown',
  // Two evaluations of a failed scrape, not one: a single missed scrape is usually a slow host.
  expr: `${selector('up', { job: JOB })} == 0`,
  for: '2m',
  severity: 'critical',
  summary: 'daxmon on {{ $labels.instance }} is down',
  description:
    'Prometheus cannot scrape daxmon on {{ $labels.instance }}: nothing watches ZONE_DEVICE refcounting on that host until it is back.',
  runbook: runbook([
    'On the host: systemctl status daxmon and journalctl -u daxmon -n 200 (or wherever your service manager logs it).',
    `curl -s ${API}/healthz and ${API}/metrics from the Prometheus host, to tell a dead process from a firewall or a wrong address.`,
    'If it exits at start-up: daxmon doctor prints the kernel facts it needs (BTF, kallsyms, tracefs, permissions) and what is missing.',
    'Violations recorded before it went down are in its journal; they are reported again on restart.',
  ]),
};

const targetMissing: AlertRule = {
  id: 'target-missing',
  group: 'daxmon-monitor',
  alert: 'DaxmonTargetMissing',
  // Long `for`: a scrape config reload or service-discovery blip briefly removes every target.
  expr: `absent(${selector('up', { job: JOB })})`,
  for: '10m',
  severity: 'warning',
  summary: 'No daxmon target in Prometheus',
  description: `Prometheus has no target in job "${JOB}": daxmon is not being scraped anywhere, so none of its alerts can fire.`,
  runbook: runbook([
    `Check the Prometheus scrape configuration: a job named "${JOB}" must point at every daxmon host (port of daxmon's /metrics).`,
    'Prometheus UI → Status → Targets: is the job there, and did service discovery drop it?',
    `If your job has another name, replace job="${JOB}" in alerts.yml (and set the dashboards' job variable).`,
  ]),
};

const probeNotAttached: AlertRule = {
  id: 'probe-not-attached',
  group: 'daxmon-monitor',
  alert: 'DaxmonProbeNotAttached',
  // Probes attach at start-up and after each backend restart: give both time before alerting.
  expr: `${max(selector('daxmon_probe_attached'), [...BY, 'probe', 'backend'])} == 0`,
  for: '5m',
  severity: 'warning',
  summary: 'daxmon probe {{ $labels.probe }} ({{ $labels.backend }}) not attached on {{ $labels.instance }}',
  description:
    'The {{ $labels.backend }} probe {{ $labels.probe }} on {{ $labels.instance }} is not attached. Checks that need its hook are inactive, so violations they would catch go unseen.',
  runbook: runbook([
    `GET ${API}/api/checks to see which checks lost this hook.`,
    'On the host, daxmon doctor: is the kernel function there (grep -w {{ $labels.probe }} /proc/kallsyms; it may be inlined or renamed on this release), is BTF present (/sys/kernel/btf/vmlinux), is lockdown in confidentiality mode (/sys/kernel/security/lockdown)?',
    'The daxmon log for the backend\'s stderr: verifier errors or "cannot attach" messages name the reason.',
    'If the probe is expected to be missing on this kernel generation, that is a daxmon probe-selection bug: report it with the kernel release.',
  ]),
};

const backendDown: AlertRule = {
  id: 'backend-down',
  group: 'daxmon-monitor',
  alert: 'DaxmonBackendDown',
  // Only backends that own probes: a backend daxmon never chose for this kernel is not "down".
  // `for: 2m` rides out the restart backoff.
  expr: `(${max(selector('daxmon_backend_up'), [...BY, 'backend'])} == 0) and on (job, instance, backend) ${count(
    selector('daxmon_probe_attached'),
    [...BY, 'backend'],
  )}`,
  for: '2m',
  severity: 'critical',
  summary: 'daxmon {{ $labels.backend }} backend not running on {{ $labels.instance }}',
  description:
    'The {{ $labels.backend }} backend process of daxmon on {{ $labels.instance }} is not running: its probes deliver no events and the checks relying on them are blind.',
  runbook: runbook([
    "The daxmon log (journalctl -u daxmon): the backend's exit status and stderr.",
    'Capabilities: the loader needs CAP_BPF and CAP_PERFMON (or root); check the service unit after any hardening change.',
    'daxmon doctor on the host for BTF, kallsyms and tracefs problems.',
    'Backend restarts on the daxmon health dashboard: a crash loop shows as steady restarts.',
  ]),
};

const backendRestarting: AlertRule = {
  id: 'backend-restarting',
  group: 'daxmon-monitor',
  alert: 'DaxmonBackendRestarting',
  expr: `${sum(increase(selector('daxmon_backend_restarts_total'), '15m'), [...BY, 'backend'])} > 2`,
  severity: 'warning',
  summary: 'daxmon {{ $labels.backend }} backend restarting on {{ $labels.instance }}',
  description:
    'The {{ $labels.backend }} backend on {{ $labels.instance }} restarted more than twice in 15 minutes. Each restart is a gap in which folio state becomes uncertain.',
  runbook: runbook([
    "The daxmon log: the backend's stderr before each exit.",
    'Memory and CPU of the host: the OOM killer (dmesg | grep -i oom) or a CPU limit in the service unit.',
    `GET ${API}/api/checks and the uncertain folio count on the overview dashboard to judge how much daxmon can still vouch for.`,
  ]),
};

const eventsLost: AlertRule = {
  id: 'events-lost',
  group: 'daxmon-monitor',
  alert: 'DaxmonEventsLost',
  // Lost events are discrete and already past: fire at once, clear ten quiet minutes later.
  expr: counted('daxmon_events_lost_total', {}, EVENT_WINDOW, [...BY, 'backend']),
  severity: 'warning',
  summary: 'daxmon {{ $labels.backend }} backend lost events on {{ $labels.instance }}',
  description:
    'The kernel side of the {{ $labels.backend }} backend on {{ $labels.instance }} dropped events in the last 10 minutes. Folios they touched are marked uncertain rather than checked, so real violations in the gap can be missed.',
  runbook: runbook([
    'Event rate by type on the overview dashboard: a burst (a large truncate, a pgmap teardown) fills the ring buffer.',
    'CPU and event-loop lag on the daxmon health dashboard: a slow consumer loses events too.',
    "Raise the backend's ring buffer size in daxmon's configuration, or prefer the libbpf backend over bpftrace.",
    `GET ${API}/api/checks: a check that depends on the lost event type stays unreliable until folios are re-read.`,
  ]),
};

const scanDrift: AlertRule = {
  id: 'scan-drift',
  group: 'daxmon-monitor',
  alert: 'DaxmonScanDrift',
  // A scan races with in-flight events, so a single drift is noise. Firing needs drift in every
  // 10-minute window for 15 minutes running.
  expr: `${sum(increase(selector('daxmon_scan_drift_total'), EVENT_WINDOW), [...BY, 'field'])} > 0`,
  for: '15m',
  severity: 'warning',
  summary: 'daxmon model drifting from struct pages ({{ $labels.field }}) on {{ $labels.instance }}',
  description:
    "The periodic struct-page scan on {{ $labels.instance }} keeps finding {{ $labels.field }} values that disagree with daxmon's tracked state. daxmon is missing events or mis-modelling the kernel, and its checks on those folios cannot be trusted.",
  runbook: runbook([
    'Lost events and probe attachment on the daxmon health dashboard: missed events are the usual cause.',
    `GET ${API}/api/checks for inactive checks, and ${API}/api/violations?kind=idle_refcount_mismatch for violations on the same pfns.`,
    'The kernel release and refcount model in daxmon_kernel_info: drift in refcount right after a kernel upgrade suggests the model was detected wrongly.',
    'If none of these explain it, report it with the journal and a daxmon record of the workload.',
  ]),
};

const journalErrors: AlertRule = {
  id: 'journal-write-errors',
  group: 'daxmon-monitor',
  alert: 'DaxmonJournalWriteErrors',
  expr: `${sum(increase(selector('daxmon_journal_write_errors_total'), EVENT_WINDOW), BY)} > 0`,
  severity: 'warning',
  summary: 'daxmon cannot write its violation journal on {{ $labels.instance }}',
  description:
    'Writes to the violation journal on {{ $labels.instance }} failed in the last 10 minutes. Violations still reach /metrics and the API, but will not survive a restart.',
  runbook: runbook([
    'The daxmon log for the errno of the failed write.',
    "Free space and inodes where the journal lives (df -h, df -i), and that daxmon's user can write there.",
    `GET ${API}/api/violations now, to keep the recent violations before a restart loses them.`,
  ]),
};

export const ALERT_RULES: readonly AlertRule[] = [
  ...VIOLATION_KINDS.filter((k) => k !== 'teardown_with_live_folios').map(violationRule),
  unknownKindRule,
  violationRule('teardown_with_live_folios'),
  busyWaitStuck,
  daxmonDown,
  targetMissing,
  probeNotAttached,
  backendDown,
  backendRestarting,
  eventsLost,
  scanDrift,
  journalErrors,
];
