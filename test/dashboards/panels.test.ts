import { describe, expect, it } from 'vitest';
import type { Dashboard, Panel } from '@grafana/schema';
import { selectors } from '../../dashboards/src/promql-selectors.js';
import { committedDashboards, isRow } from './paths.js';
import type { Target } from './paths.js';

const dashboards = await committedDashboards();
const UNITS = ['short', 'none', 's', 'bytes', 'percentunit', 'cps', 'dateTimeFromNow', 'dtdurations'];
const DS = { type: 'prometheus', uid: '${datasource}' };

const panelsOf = (d: Dashboard): Panel[] => (d.panels ?? []).filter((p): p is Panel => !isRow(p));
const targetsOf = (p: Panel): Target[] => (p.targets ?? []) as unknown as Target[];

describe.each(dashboards.map((d) => [d.uid ?? '', d] as const))('dashboard %s', (_uid, d) => {
  const vars = d.templating?.list ?? [];
  const panels = panelsOf(d);

  it('has a Prometheus datasource variable and an instance variable that uses it', () => {
    expect(vars.find((v) => v.name === 'datasource')).toMatchObject({
      type: 'datasource',
      query: 'prometheus',
    });
    expect(vars.find((v) => v.name === 'instance')).toMatchObject({
      type: 'query',
      datasource: DS,
      query: expect.stringMatching(/^label_values\(daxmon_\w+, instance\)$/),
    });
  });

  it('has a uid Grafana accepts, the daxmon tag and a schema version', () => {
    expect(d.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(d.tags).toContain('daxmon');
    expect(d.schemaVersion).toBeGreaterThanOrEqual(36);
  });

  it('lays panels out on the 24-column grid without overlaps, with unique ids', () => {
    const all = d.panels ?? [];
    expect(new Set(all.map((p) => p.id)).size).toBe(all.length);
    const cells = new Set<string>();
    for (const p of all) {
      const g = p.gridPos;
      expect(g, `${p.title} has a gridPos`).toBeDefined();
      if (!g) continue;
      expect(g.x + g.w, `${p.title} fits the grid`).toBeLessThanOrEqual(24);
      for (let x = g.x; x < g.x + g.w; x++)
        for (let y = g.y; y < g.y + g.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps another panel at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
    }
  });

  it.each(panels.map((p) => [p.title ?? '', p] as const))('panel "%s" is well formed', (_title, p) => {
    expect(p.description, 'a description saying what the numbers mean').toBeTruthy();
    expect(p.datasource).toEqual(DS);
    expect(UNITS).toContain(p.fieldConfig?.defaults.unit);
    const targets = targetsOf(p);
    expect(targets.length).toBeGreaterThan(0);
    expect(new Set(targets.map((t) => t.refId)).size).toBe(targets.length);
    for (const t of targets) {
      expect(t.datasource).toEqual(DS);
      expect(typeof t.expr === 'string' && t.expr.length > 0).toBe(true);
      expect(['time_series', 'table', 'heatmap']).toContain(t.format);
      expect(t.instant).toBe(!t.range);
    }
  });

  it.each(panels.map((p) => [p.title ?? '', p] as const))(
    'panel "%s" filters every selector by $instance and rates over $__rate_interval',
    (_title, p) => {
      for (const t of targetsOf(p)) {
        for (const s of selectors(t.expr)) {
          expect(s.matchers, `${s.name} in ${t.expr}`).toContainEqual({
            label: 'instance',
            op: '=~',
            value: '$instance',
          });
        }
        for (const [, window] of t.expr.matchAll(/\[([^\]]*)\]/g)) {
          expect(['$__rate_interval', '$__range'], t.expr).toContain(window);
        }
      }
    },
  );

  it('shows histograms as quantiles of bucket rates or as heatmaps of bucket rates', () => {
    for (const p of panels) {
      for (const t of targetsOf(p)) {
        const usesBuckets = /_bucket\b/.test(t.expr);
        if (p.type === 'heatmap') {
          expect(t.format).toBe('heatmap');
          expect(t.expr).toMatch(/^sum by \(le\) \(rate\(\w+_bucket\{[^}]*\}\[\$__rate_interval\]\)\)$/);
          expect(p.options?.calculate).toBe(false);
        } else if (usesBuckets) {
          expect(t.expr).toMatch(/^histogram_quantile\(0\.\d+, sum by \(le\) \(rate\(\w+_bucket/);
        }
      }
    }
  });
});

describe('pgmap drill-down', () => {
  const d = dashboards.find((x) => x.uid === 'daxmon-pgmap');

  it('has a pgmap variable from daxmon_pgmap_info, and every folio query filters on it', () => {
    expect(d?.templating?.list?.find((v) => v.name === 'pgmap')).toMatchObject({
      type: 'query',
      query: expect.stringMatching(/^label_values\(daxmon_pgmap_info\{[^}]*\}, pgmap\)$/),
    });
    for (const p of panelsOf(d ?? { schemaVersion: 0 })) {
      for (const t of targetsOf(p)) {
        for (const s of selectors(t.expr).filter((x) => x.name.startsWith('daxmon_pgmap_'))) {
          expect(s.matchers, `${p.title}: ${t.expr}`).toContainEqual({
            label: 'pgmap',
            op: '=~',
            value: '$pgmap',
          });
        }
      }
    }
  });
});

describe('overview', () => {
  it('links each pgmap in its table to the drill-down', () => {
    const d = dashboards.find((x) => x.uid === 'daxmon-overview');
    const table = panelsOf(d ?? { schemaVersion: 0 }).find((p) => p.type === 'table');
    expect(JSON.stringify(table?.fieldConfig?.overrides)).toContain('/d/daxmon-pgmap/');
  });
});
