import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateAll, ruleHealth } from '../../dashboards/src/live/evaluate.js';
import { promApi } from '../../dashboards/src/live/prom-api.js';
import { renderDashboardSvg } from '../../dashboards/src/live/render-svg.js';
import { snapshotDashboard } from '../../dashboards/src/live/snapshot.js';
import { QUERIES, VARIABLE_QUERIES, expandVariables } from '../../dashboards/src/queries.js';
import { DASHBOARDS_DIR } from './paths.js';
import { startPrometheus, waitFor } from './prometheus-server.js';
import type { PrometheusServer } from './prometheus-server.js';
import { startSyntheticExporter } from './synthetic-exporter.js';
import type { Exporter } from './synthetic-exporter.js';

// A real Prometheus scraping a contract-shaped healthy host every second, with daxmon's rules loaded.
// Rate windows are shortened to fit a test that runs for seconds, not minutes.
const VARS = { rateInterval: '30s', range: '1m' };

let exporter: Exporter;
let prom: PrometheusServer;

beforeAll(async () => {
  exporter = await startSyntheticExporter();
  prom = await startPrometheus({
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: [path.join(DASHBOARDS_DIR, 'alerts.yml')],
    scrape_configs: [{ job_name: 'daxmon', static_configs: [{ targets: [exporter.address] }] }],
  });
  // Enough scrapes for every rate() window to hold two samples.
  await waitFor('four scrapes of the exporter', 30_000, async () => {
    const r = await prom.query('count_over_time(up{job="daxmon"}[1m])');
    const sample = r.data?.result[0] as { value: [number, string] } | undefined;
    return Number(sample?.value[1] ?? 0) >= 4;
  });
}, 60_000);

afterAll(async () => {
  await prom?.stop();
  await exporter?.close();
});

describe('against a real Prometheus scraping a healthy daxmon-shaped exporter', () => {
  it('every panel query evaluates, and every core one returns data', async () => {
    const failures: string[] = [];
    for (const q of QUERIES.filter((x) => x.source === 'panel')) {
      const r = await prom.query(expandVariables(q.expr, VARS));
      if (r.status !== 'success') failures.push(`${q.id}: ${r.error ?? r.status}`);
      else if (q.core && (r.data?.result.length ?? 0) === 0)
        failures.push(`${q.id}: core query returned no data`);
    }
    expect(failures).toEqual([]);
  });

  it('every template variable lists values', async () => {
    expect(VARIABLE_QUERIES.map((v) => `${v.dashboard}/${v.variable}`)).toEqual([
      'daxmon-overview/instance',
      'daxmon-pgmap/instance',
      'daxmon-pgmap/pgmap',
      'daxmon-health/instance',
    ]);
    for (const v of VARIABLE_QUERIES) {
      const match = encodeURIComponent(expandVariables(v.match, VARS));
      const r = await prom.api<{ status: string; data: string[] }>(
        `/api/v1/label/${v.label}/values?match[]=${match}`,
      );
      expect(r.status).toBe('success');
      expect(r.data.length, `${v.dashboard}/${v.variable}`).toBeGreaterThan(0);
    }
  });

  it('every alert rule evaluates cleanly and none fires or is pending on a healthy host', async () => {
    interface Rule {
      name: string;
      health: string;
      lastError?: string;
      lastEvaluation: string;
      state: string;
    }
    const rules = async (): Promise<Rule[]> =>
      (await prom.api<{ data: { groups: { rules: Rule[] }[] } }>('/api/v1/rules')).data.groups.flatMap(
        (g) => g.rules,
      );
    await waitFor('every rule to be evaluated', 20_000, async () =>
      (await rules()).every((r) => !r.lastEvaluation.startsWith('0001')),
    );
    const all = await rules();
    expect(all.length).toBe(QUERIES.filter((q) => q.source === 'alert').length);
    expect(all.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError ?? r.health}`)).toEqual(
      [],
    );
    expect(all.filter((r) => r.state !== 'inactive').map((r) => `${r.name} is ${r.state}`)).toEqual([]);
  });

  it('the live evaluator (used by the VM E2E test) agrees: all parse, core have data, rules healthy', async () => {
    const api = promApi(prom.url);
    const end = Date.now() / 1000;
    const out = await evaluateAll(api, { start: end - 60, end, stepSeconds: 1 }, VARS);
    expect(out).toHaveLength(QUERIES.length);
    expect(out.filter((q) => !q.ok).map((q) => q.id)).toEqual([]);
    expect(out.filter((q) => q.core && q.series === 0).map((q) => q.id)).toEqual([]);
    const pgmaps = out.find((q) => q.id === 'daxmon-overview/pgmaps/A');
    expect(pgmaps?.summary).toBe('2');
    const rules = await ruleHealth(api);
    expect(rules.filter((r) => r.health !== 'ok')).toEqual([]);
  });

  it('the overview renders from a live snapshot: every panel drawn, core panels with data', async () => {
    const api = promApi(prom.url);
    const end = Date.now() / 1000;
    const snap = await snapshotDashboard(
      api,
      'daxmon-overview',
      { start: end - 60, end, stepSeconds: 1 },
      VARS,
    );
    const svg = renderDashboardSvg(snap, { source: 'synthetic exporter' });
    expect(svg.startsWith('<svg ')).toBe(true);
    expect(svg).toContain("daxmon's own rendering of the overview panels' queries, not Grafana");
    const core = new Set(
      QUERIES.filter((q) => q.core && q.dashboard === 'daxmon-overview').map((q) => q.panel),
    );
    for (const p of snap.panels) {
      const title = p.title.replace(/&/g, '&amp;');
      expect(svg, p.title).toContain(`>${title}</text>`);
      if (core.has(p.title))
        expect(
          p.queries.every((q) => q.series.length > 0),
          p.title,
        ).toBe(true);
    }
    // The two pgmaps of the synthetic host in the pgmap table.
    expect(svg).toContain('>pm0</text>');
    expect(svg).toContain('>pm1</text>');
  });
});
