/**
 * Turns a DashboardSpec into Grafana dashboard JSON: rows laid out on the 24-column grid, panel ids
 * assigned in reading order, and the envelope every daxmon dashboard shares.
 */
import { DashboardCursorSync } from '@grafana/schema';
import type { Dashboard, Panel, RowPanel } from '@grafana/schema';
import type { DashboardSpec } from './spec.js';

/**
 * Grafana 10.4/11.0's schema version. Newer Grafana migrates it forward on load; pinning it here keeps
 * the committed JSON importable into the older releases that sites still run.
 */
export const SCHEMA_VERSION = 39;
export const GRID_WIDTH = 24;
export const TAG = 'daxmon';

function layout(spec: DashboardSpec): Array<Panel | RowPanel> {
  const out: Array<Panel | RowPanel> = [];
  let id = 1;
  let y = 0;
  for (const row of spec.rows) {
    out.push({
      type: 'row',
      title: row.title,
      collapsed: false,
      id: id++,
      panels: [],
      gridPos: { x: 0, y, w: 24, h: 1 },
    });
    y += 1;
    let x = 0;
    let rowHeight = 0;
    for (const p of row.panels) {
      if (p.w > GRID_WIDTH) throw new Error(`panel "${p.panel.title}" is wider than the grid`);
      if (x + p.w > GRID_WIDTH) {
        y += rowHeight;
        x = 0;
        rowHeight = 0;
      }
      out.push({ ...p.panel, id: id++, gridPos: { x, y, w: p.w, h: p.h } });
      x += p.w;
      rowHeight = Math.max(rowHeight, p.h);
    }
    y += rowHeight;
  }
  return out;
}

export function buildDashboard(spec: DashboardSpec): Dashboard {
  return {
    uid: spec.uid,
    title: spec.title,
    description: spec.description,
    tags: [TAG],
    editable: true,
    fiscalYearStartMonth: 0,
    graphTooltip: DashboardCursorSync.Crosshair,
    liveNow: false,
    refresh: '30s',
    schemaVersion: SCHEMA_VERSION,
    time: { from: 'now-6h', to: 'now' },
    timepicker: {},
    timezone: 'browser',
    weekStart: '',
    version: 1,
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    // Every daxmon dashboard links to the others, carrying the time range and variables along.
    links: [
      {
        title: 'daxmon',
        type: 'dashboards',
        tags: [TAG],
        asDropdown: true,
        includeVars: true,
        keepTime: true,
        icon: 'external link',
        targetBlank: false,
        tooltip: '',
        url: '',
      },
    ],
    templating: { list: [...spec.variables] },
    panels: layout(spec),
  };
}

/** The file content: stable key order from the builder, two-space indent, trailing newline. */
export function renderDashboard(spec: DashboardSpec): string {
  return `${JSON.stringify(buildDashboard(spec), null, 2)}\n`;
}
