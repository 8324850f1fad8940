/**
 * Alerts on daxmon's ability to see: down, missing, probes, backends, lost events, scan drift, journal
 * writes, and the busy-page wait still open past daxmon's error threshold.
 */
import { count, increase, max, selector, sum } from '../promql.js';
import { API, BUSY_WAIT_STUCK_SECONDS, BY, EVENT_WINDOW, JOB, counted, runbook } from './common.js';
import type { AlertRule } from './types.js';
import { KIND_GUIDES } from './violation-kinds.js';

export const busyWaitStuck: AlertRule = {
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

export const daxmonDown: AlertRule = {
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

export const targetMissing: AlertRule = {
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

export const probeNotAttached: AlertRule = {
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

export const backendDown: AlertRule = {
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

export const backendRestarting: AlertRule = {
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

export const eventsLost: AlertRule = {
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

export const scanDrift: AlertRule = {
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

export const journalErrors: AlertRule = {
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
