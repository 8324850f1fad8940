/** Paths shared by the dashboard tests. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Dashboard, Panel, RowPanel } from '@grafana/schema';
import { DASHBOARDS } from '../../dashboards/src/dashboards/index.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DASHBOARDS_DIR = path.join(ROOT, 'dashboards');

/** The committed dashboard JSON, as users import it. */
export async function committedDashboards(): Promise<Dashboard[]> {
  return Promise.all(
    DASHBOARDS.map(
      async (d) =>
        JSON.parse(await readFile(path.join(DASHBOARDS_DIR, 'grafana', d.file), 'utf8')) as Dashboard,
    ),
  );
}

export const isRow = (p: Panel | RowPanel): p is RowPanel => p.type === 'row';

export interface Target {
  refId: string;
  expr: string;
  datasource?: { type?: string; uid?: string };
  format?: string;
  instant?: boolean;
  range?: boolean;
}
