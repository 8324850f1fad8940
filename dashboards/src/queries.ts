/**
 * Every PromQL expression daxmon ships, from every dashboard panel and every alert rule, for tests
 * that run them against a real Prometheus (the VM end-to-end test runs each through the HTTP API and
 * requires data from the `core` ones).
 */
import { ALERT_RULES } from './alerts/rules.js';
import { DASHBOARDS } from './dashboards/index.js';

export interface QueryEntry {
  /** Stable, unique: `<dashboard uid>/<panel title>/<refId>` or `alert/<rule id>`. */
  readonly id: string;
  readonly source: 'panel' | 'alert';
  /** As written in the dashboard JSON (with Grafana variables) or in alerts.yml. */
  readonly expr: string;
  /** Panel queries: instant (current value) rather than range. Alerts are evaluated instantly. */
  readonly instant: boolean;
  /** Must return data on a healthy host with daxmon running and a pgmap present. Never set for alerts. */
  readonly core: boolean;
  readonly dashboard?: string;
  readonly panel?: string;
  readonly refId?: string;
  readonly alert?: string;
}

const REF_IDS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

function panelQueries(): QueryEntry[] {
  return DASHBOARDS.flatMap((d) =>
    d.rows.flatMap((row) =>
      row.panels.flatMap((p) =>
        p.queries.map((q, i): QueryEntry => {
          const refId = REF_IDS[i] ?? `Q${i}`;
          const panel = p.panel.title ?? '';
          return {
            id: `${d.uid}/${panel}/${refId}`,
            source: 'panel',
            expr: q.expr,
            instant: q.instant ?? false,
            core: p.core,
            dashboard: d.uid,
            panel,
            refId,
          };
        }),
      ),
    ),
  );
}

function alertQueries(): QueryEntry[] {
  return ALERT_RULES.map((r) => ({
    id: `alert/${r.id}`,
    source: 'alert',
    expr: r.expr,
    instant: true,
    core: false,
    alert: r.alert,
  }));
}

export const QUERIES: readonly QueryEntry[] = [...panelQueries(), ...alertQueries()];

/**
 * A template variable's `label_values(<match>, <label>)` query: Grafana asks Prometheus's
 * /api/v1/label/<label>/values?match[]=<match>. Every one must list values on a healthy host.
 */
export interface VariableQuery {
  readonly dashboard: string;
  readonly variable: string;
  readonly match: string;
  readonly label: string;
}

export const VARIABLE_QUERIES: readonly VariableQuery[] = DASHBOARDS.flatMap((d) =>
  d.variables.flatMap((v) => {
    const m = typeof v.query === 'string' ? /^label_values\((.+), (\w+)\)$/.exec(v.query) : null;
    return m?.[1] && m[2] ? [{ dashboard: d.uid, variable: v.name, match: m[1], label: m[2] }] : [];
  }),
);

export interface VariableValues {
  /** Regex for `$instance` (Grafana's "All" is `.*`). */
  readonly instance: string;
  /** Regex for `$pgmap`. */
  readonly pgmap: string;
  readonly job: string;
  /** What Grafana would put for `$__rate_interval`: at least four scrape intervals. */
  readonly rateInterval: string;
  /** What Grafana would put for `$__range`: the dashboard's time range. */
  readonly range: string;
}

export const DEFAULT_VARIABLES: VariableValues = {
  instance: '.*',
  pgmap: '.*',
  job: 'daxmon',
  rateInterval: '1m',
  range: '1h',
};

/**
 * Substitutes the Grafana variables daxmon's panels use, giving plain PromQL for Prometheus's HTTP
 * API or promtool. Throws if a variable is left, so a new variable cannot slip past the E2E test.
 */
export function expandVariables(expr: string, values: Partial<VariableValues> = {}): string {
  const v = { ...DEFAULT_VARIABLES, ...values };
  const out = expr
    .replaceAll('$__rate_interval', v.rateInterval)
    .replaceAll('$__range', v.range)
    .replaceAll('$instance', v.instance)
    .replaceAll('$pgmap', v.pgmap)
    .replaceAll('$job', v.job);
  if (out.includes('$')) throw new Error(`unexpanded Grafana variable in: ${out}`);
  return out;
}
