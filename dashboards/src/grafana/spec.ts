/**
 * What a dashboard is made of before layout: panels that remember their PromQL and whether it must
 * return data on a healthy host. The Grafana JSON and the exported query list are both derived from
 * these, so they cannot drift apart.
 */
import type { Panel, VariableModel } from '@grafana/schema';

/** Grafana unit ids used by daxmon panels (a subset of grafana-data's value formats). */
export type Unit =
  'short' | 'none' | 's' | 'bytes' | 'percentunit' | 'cps' | 'dateTimeFromNow' | 'dtdurations';

export type QueryFormat = 'time_series' | 'table' | 'heatmap';

export interface PanelQuery {
  readonly expr: string;
  /** Grafana legend template, e.g. `{{kind}}`. */
  readonly legend?: string;
  /** Instant query: tables and bar gauges showing the current state rather than history. */
  readonly instant?: boolean;
  readonly format?: QueryFormat;
}

export interface PanelSpec {
  /** The Grafana panel without `id` and `gridPos`, which layout assigns. */
  readonly panel: Panel;
  readonly queries: readonly PanelQuery[];
  /**
   * Must return data whenever daxmon runs on a host with at least one pgmap, even with no violations
   * and no DAX workload: the E2E test asserts it. Set only for series the daemon exports from start-up
   * (gauges, label-less counters, info metrics), never for ones that exist only after an event.
   */
  readonly core: boolean;
  /** Grid width (of 24) and height. */
  readonly w: number;
  readonly h: number;
}

export interface RowSpec {
  readonly title: string;
  readonly panels: readonly PanelSpec[];
}

export interface DashboardSpec {
  readonly uid: string;
  readonly title: string;
  readonly description: string;
  /** File name under dashboards/grafana/. */
  readonly file: string;
  readonly variables: readonly VariableModel[];
  readonly rows: readonly RowSpec[];
}
