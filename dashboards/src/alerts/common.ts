/**
 * Pieces every daxmon alert rule shares: the scrape job, windows, label sets, runbook formatting and
 * the expression helpers for counters.
 */
import type { SeriesName } from '../metrics-contract.js';
import { increase, selector, sum } from '../promql.js';
import type { Matchers } from '../promql.js';

/** The scrape job alerts use for `up`; users with another job name edit alerts.yml (see docs). */
export const JOB = 'daxmon';
/** Window in which a counted event keeps its alert firing. */
export const EVENT_WINDOW = '10m';
/** daxmon's default busy_wait_stuck error threshold (its warning is at 10 s). */
export const BUSY_WAIT_STUCK_SECONDS = 60;

export const API = 'http://{{ $labels.instance }}';
export const BY = ['job', 'instance'] as const;

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
export const severityFromViolation = (expr: string): string =>
  `label_replace(${expr}, "severity", "critical", "severity", "error")`;

export const runbook = (steps: readonly string[]): string => steps.map((s, i) => `${i + 1}. ${s}`).join('\n');
