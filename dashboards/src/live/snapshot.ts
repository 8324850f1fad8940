/**
 * The data behind one dashboard, fetched from a live Prometheus exactly as its panels ask for it, and
 * kept as JSON: the overview renderer draws from a snapshot, so a run's picture can be redrawn after
 * its Prometheus is gone.
 */
import { DASHBOARDS } from '../dashboards/index.js';
import { expandVariables } from '../queries.js';
import type { VariableValues } from '../queries.js';
import type { Window } from './evaluate.js';
import { seriesOf } from './prom-api.js';
import type { PromApi, Sample } from './prom-api.js';

export interface PanelSnapshot {
  readonly row: string;
  readonly title: string;
  readonly type: string;
  readonly unit?: string;
  readonly w: number;
  readonly h: number;
  readonly queries: readonly {
    readonly expr: string;
    readonly legend?: string;
    readonly instant: boolean;
    readonly error?: string;
    readonly series: readonly Sample[];
  }[];
}

export interface DashboardSnapshot {
  readonly uid: string;
  readonly title: string;
  readonly prometheus: string;
  readonly window: Window;
  readonly panels: readonly PanelSnapshot[];
}

export async function snapshotDashboard(
  api: PromApi,
  uid: string,
  w: Window,
  vars: Partial<VariableValues>,
): Promise<DashboardSnapshot> {
  const d = DASHBOARDS.find((x) => x.uid === uid);
  if (!d) throw new Error(`no dashboard ${uid}`);
  const panels: PanelSnapshot[] = [];
  for (const row of d.rows) {
    for (const p of row.panels) {
      const queries = [];
      for (const q of p.queries) {
        const expr = expandVariables(q.expr, vars);
        const instant = q.instant ?? false;
        const r = instant
          ? await api.query(expr, w.end)
          : await api.queryRange(expr, w.start, w.end, w.stepSeconds);
        queries.push({
          expr,
          ...(q.legend ? { legend: q.legend } : {}),
          instant,
          ...(r.status === 'success' ? {} : { error: r.error ?? 'error' }),
          series: seriesOf(r),
        });
      }
      const unit = (p.panel as { fieldConfig?: { defaults?: { unit?: string } } }).fieldConfig?.defaults
        ?.unit;
      panels.push({
        row: row.title,
        title: p.panel.title ?? '',
        type: p.panel.type ?? '',
        ...(unit ? { unit } : {}),
        w: p.w,
        h: p.h,
        queries,
      });
    }
  }
  return { uid, title: d.title, prometheus: api.url, window: w, panels };
}
