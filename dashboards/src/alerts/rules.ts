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
import {
  backendDown,
  backendRestarting,
  busyWaitStuck,
  daxmonDown,
  eventsLost,
  journalErrors,
  probeNotAttached,
  scanDrift,
  targetMissing,
} from './monitor-rules.js';
import type { AlertRule } from './types.js';
import { unknownKindRule, violationRule } from './violation-rules.js';

export type { AlertRule, Severity } from './types.js';
export { BUSY_WAIT_STUCK_SECONDS, EVENT_WINDOW, JOB } from './common.js';

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
