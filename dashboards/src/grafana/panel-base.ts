/**
 * What every panel builder shares: the common arguments, Prometheus targets bound to the datasource
 * variable, and the PanelSpec wrapper that keeps each panel's queries and core flag beside it.
 */
import type { Panel } from '@grafana/schema';
import type { PanelQuery, PanelSpec } from './spec.js';
import { DATASOURCE } from './variables.js';

export interface Common {
  readonly title: string;
  /** Shown as the panel's (i) tooltip: what the numbers mean in kernel terms. */
  readonly description: string;
  readonly queries: readonly PanelQuery[];
  readonly core?: boolean;
  readonly w: number;
  readonly h: number;
}

const refIds = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

function targets(queries: readonly PanelQuery[]): Record<string, unknown>[] {
  return queries.map((q, i) => ({
    refId: refIds[i] ?? `Q${i}`,
    datasource: DATASOURCE,
    editorMode: 'code',
    expr: q.expr,
    legendFormat: q.legend ?? '__auto',
    range: !q.instant,
    instant: q.instant ?? false,
    format: q.format ?? 'time_series',
  }));
}

export function spec(
  c: Common,
  panel: Omit<Panel, 'title' | 'description' | 'datasource' | 'targets'>,
): PanelSpec {
  return {
    panel: {
      ...panel,
      title: c.title,
      description: c.description,
      datasource: DATASOURCE,
      targets: targets(c.queries),
    },
    queries: c.queries,
    core: c.core ?? false,
    w: c.w,
    h: c.h,
  };
}
