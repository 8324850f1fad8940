/**
 * The VM end-to-end test's report, and its Markdown form for docs/dashboards.md: per panel query what
 * it showed while the truncate waited and after the release, per alert what state it reached.
 */
import type {
  AlertSeen,
  QueryOutcome,
  RuleHealth,
  VariableOutcome,
} from '../../dashboards/src/live/evaluate.js';
import type { DashboardSnapshot } from '../../dashboards/src/live/snapshot.js';

export interface AlertTrace {
  /** Seconds after the lab's Prometheus was ready. */
  pendingAt?: number;
  firingAt?: number;
  valueWhenFiring?: string;
  labels: Readonly<Record<string, string>>;
}

export interface E2eReport {
  kernel?: string;
  guest?: { bootSeconds?: number; jobSeconds?: number; totalSeconds: number; retries: number };
  /** Backends with daxmon_backend_up == 1. */
  backends: string[];
  timeline: { t: number; what: string }[];
  /** Seconds after the lab's Prometheus was ready at which each pass was evaluated (a successful scrape). */
  evaluatedAt?: { during: number; after?: number };
  /** The lab's scrapes of daxmon over the run (`up` 1 or 0), and the longest scrape_duration_seconds. */
  scrapes?: {
    ok: number;
    failed: number;
    okAfterRelease: number;
    interval: string;
    medianSeconds?: number;
    slowestSeconds?: number;
  };
  workload: unknown[];
  /** Every alert seen pending or firing, the first time in each state. */
  alerts: Record<string, AlertTrace>;
  /** Panel and alert queries while the truncate waited (alerts firing), and after the release. */
  during: QueryOutcome[];
  after: QueryOutcome[];
  variables: VariableOutcome[];
  rules: RuleHealth[];
  /** The overview's data while the truncate waited, and at the end. */
  overviewDuring?: DashboardSnapshot;
  overview?: DashboardSnapshot;
}

/** One entry per alert series: violations by kind and severity, the others by name. */
export function alertKey(a: Pick<AlertSeen, 'alert' | 'labels'>): string {
  return a.alert === 'DaxmonViolation'
    ? `${a.alert}{kind=${a.labels.kind ?? ''},severity=${a.labels.severity ?? ''}}`
    : a.alert;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|');

/** The first few `label=value` parts of a summary: the JSON report has them all. */
function short(summary: string, n = 6): string {
  const parts = summary.split(' ');
  return parts.length > n ? `${parts.slice(0, n).join(' ')} …` : summary;
}

export function reportMarkdown(r: E2eReport): string {
  const lines: string[] = [];
  lines.push(
    `Kernel ${r.kernel ?? '?'}, backend ${r.backends.join(', ')}; timeline (s after the lab Prometheus was ready): ` +
      r.timeline.map((x) => `${x.what} ${x.t}`).join('; ') +
      '.' +
      (r.scrapes
        ? ` Scrapes every ${r.scrapes.interval}: ${r.scrapes.ok} succeeded (${r.scrapes.okAfterRelease} after the release), ${r.scrapes.failed} failed` +
          `${r.scrapes.medianSeconds !== undefined ? `, median ${r.scrapes.medianSeconds.toFixed(2)} s` : ''}` +
          `${r.scrapes.slowestSeconds !== undefined ? `, slowest ${r.scrapes.slowestSeconds.toFixed(2)} s` : ''}.`
        : '') +
      (r.evaluatedAt
        ? ` Queries evaluated at ${r.evaluatedAt.during} s and ${r.evaluatedAt.after ?? '?'} s (successful scrapes).`
        : ''),
    '',
    '| query (panel or alert expression) | core | while the truncate waited: series: last values | after the release |',
    '| --- | --- | --- | --- |',
  );
  for (const q of r.after) {
    const d = r.during.find((x) => x.id === q.id);
    const show = (o: QueryOutcome | undefined): string =>
      o ? (o.ok ? `${o.series}: ${cell(short(o.summary))}` : `error: ${cell(o.error ?? '')}`) : '';
    const core = q.core ? (q.pending.length ? 'yes (pending metric)' : 'yes') : '';
    lines.push(`| ${cell(q.id)} | ${core} | ${show(d)} | ${show(q)} |`);
  }
  lines.push('', '| template variable | values |', '| --- | --- |');
  for (const v of r.variables) lines.push(`| ${v.id} | ${cell(v.values.join(', ')) || '(none)'} |`);
  lines.push(
    '',
    '| alert | reached | pending at (s) | firing at (s) | value when firing |',
    '| --- | --- | --- | --- | --- |',
  );
  for (const name of [...new Set(r.rules.map((x) => x.alert))]) {
    const traces = Object.entries(r.alerts).filter(([k]) => k === name || k.startsWith(`${name}{`));
    if (traces.length === 0) lines.push(`| ${name} | never pending | | | |`);
    for (const [k, t] of traces) {
      const state = t.firingAt !== undefined ? 'firing' : 'pending only';
      lines.push(
        `| ${cell(k)} | ${state} | ${t.pendingAt ?? ''} | ${t.firingAt ?? ''} | ${t.valueWhenFiring ?? ''} |`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
