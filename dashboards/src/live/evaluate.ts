/**
 * Runs every dashboard query, template variable and alert expression daxmon ships against a live
 * Prometheus and says what each returned. The VM end-to-end test asserts on the outcome; the same
 * outcome is the per-panel table in docs/dashboards.md.
 */
import { DAXMON_METRICS, seriesNames } from '../metrics-contract.js';
import type { MetricSpec } from '../metrics-contract.js';
import { selectors } from '../promql-selectors.js';
import { QUERIES, VARIABLE_QUERIES, expandVariables } from '../queries.js';
import type { QueryEntry, VariableValues } from '../queries.js';
import { lastValue, seriesOf } from './prom-api.js';
import type { PromApi, Sample } from './prom-api.js';

export interface Window {
  /** Unix seconds. */
  readonly start: number;
  readonly end: number;
  readonly stepSeconds: number;
}

export interface QueryOutcome {
  readonly id: string;
  readonly source: 'panel' | 'alert';
  readonly core: boolean;
  readonly instant: boolean;
  /** Contract families the query uses that the daemon does not export yet. */
  readonly pending: readonly string[];
  readonly expr: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly series: number;
  /** The last value of each series (at most 24), labelled by what tells them apart. */
  readonly summary: string;
}

export interface VariableOutcome {
  readonly id: string;
  readonly ok: boolean;
  readonly values: readonly string[];
}

const SERIES = seriesNames();

/** Families a query reads that are still `pending` in the contract. */
export function pendingFamilies(expr: string): string[] {
  const out = new Set<string>();
  for (const s of selectors(expr)) {
    const fam = SERIES.get(s.name)?.family;
    const spec = fam ? (DAXMON_METRICS as Record<string, MetricSpec>)[fam] : undefined;
    if (fam && spec?.pending !== undefined) out.add(fam);
  }
  return [...out];
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return String(n);
  return Math.abs(n) >= 100 ? n.toFixed(0) : Number(n.toPrecision(3)).toString();
}

/** Labels that differ between the series (instance and job never do in one run: left out). */
function distinguishing(series: readonly Sample[]): string[] {
  const keys = new Set(series.flatMap((s) => Object.keys(s.metric)));
  return [...keys].filter(
    (k) => k !== 'instance' && k !== 'job' && new Set(series.map((s) => s.metric[k] ?? '')).size > 1,
  );
}

export function summarize(series: readonly Sample[]): string {
  if (series.length === 0) return 'no data';
  const keys = distinguishing(series);
  const parts = series.slice(0, 24).map((s) => {
    const name = keys.map((k) => s.metric[k] ?? '').join(',');
    return name ? `${name}=${fmt(lastValue(s))}` : fmt(lastValue(s));
  });
  return `${parts.join(' ')}${series.length > 24 ? ` (+${series.length - 24} more)` : ''}`;
}

export async function evaluateQuery(
  api: PromApi,
  q: QueryEntry,
  w: Window,
  vars: Partial<VariableValues>,
): Promise<QueryOutcome> {
  const expr = expandVariables(q.expr, vars);
  const r =
    q.source === 'panel' && !q.instant
      ? await api.queryRange(expr, w.start, w.end, w.stepSeconds)
      : await api.query(expr, w.end);
  const series = r.status === 'success' ? seriesOf(r) : [];
  return {
    id: q.id,
    source: q.source,
    core: q.core,
    instant: q.instant,
    pending: pendingFamilies(q.expr),
    expr,
    ok: r.status === 'success',
    ...(r.status === 'success' ? {} : { error: `${r.errorType ?? ''}: ${r.error ?? 'no error text'}` }),
    series: series.length,
    summary: r.status === 'success' ? summarize(series) : 'error',
  };
}

export async function evaluateAll(
  api: PromApi,
  w: Window,
  vars: Partial<VariableValues>,
): Promise<QueryOutcome[]> {
  const out: QueryOutcome[] = [];
  for (const q of QUERIES) out.push(await evaluateQuery(api, q, w, vars));
  return out;
}

export async function evaluateVariables(
  api: PromApi,
  vars: Partial<VariableValues>,
): Promise<VariableOutcome[]> {
  const out: VariableOutcome[] = [];
  for (const v of VARIABLE_QUERIES) {
    const match = encodeURIComponent(expandVariables(v.match, vars));
    const r = await api.get<{ status: string; data?: string[] }>(
      `/api/v1/label/${v.label}/values?match[]=${match}`,
    );
    out.push({ id: `${v.dashboard}/${v.variable}`, ok: r.status === 'success', values: r.data ?? [] });
  }
  return out;
}

export interface AlertSeen {
  readonly alert: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly state: 'pending' | 'firing';
  readonly activeAt: string;
  readonly value: string;
}

/** Alerts pending or firing now (/api/v1/alerts). */
export async function activeAlerts(api: PromApi): Promise<AlertSeen[]> {
  const r = await api.get<{
    data: { alerts: { labels: Record<string, string>; state: string; activeAt: string; value: string }[] };
  }>('/api/v1/alerts');
  return r.data.alerts.map((a) => ({
    alert: a.labels.alertname ?? '',
    labels: a.labels,
    state: a.state as 'pending' | 'firing',
    activeAt: a.activeAt,
    value: a.value,
  }));
}

export interface RuleHealth {
  readonly alert: string;
  readonly health: string;
  readonly state: string;
  readonly lastError?: string;
  readonly evaluated: boolean;
}

export async function ruleHealth(api: PromApi): Promise<RuleHealth[]> {
  const r = await api.get<{
    data: {
      groups: {
        rules: { name: string; health: string; state: string; lastError?: string; lastEvaluation: string }[];
      }[];
    };
  }>('/api/v1/rules');
  return r.data.groups.flatMap((g) =>
    g.rules.map((x) => ({
      alert: x.name,
      health: x.health,
      state: x.state,
      ...(x.lastError ? { lastError: x.lastError } : {}),
      evaluated: !x.lastEvaluation.startsWith('0001'),
    })),
  );
}
