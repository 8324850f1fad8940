import { describe, expect, it } from 'vitest';
import { ALERT_RULES } from '../../dashboards/src/alerts/rules.js';
import { QUERIES, expandVariables } from '../../dashboards/src/queries.js';
import { committedDashboards, isRow } from './paths.js';
import type { Target } from './paths.js';

const dashboards = await committedDashboards();

describe('exported query list', () => {
  it('has unique ids', () => {
    expect(new Set(QUERIES.map((q) => q.id)).size).toBe(QUERIES.length);
  });

  it('holds exactly the targets of the committed dashboard JSON', () => {
    const fromJson = dashboards.flatMap((d) =>
      (d.panels ?? []).flatMap((p) =>
        isRow(p)
          ? []
          : ((p.targets ?? []) as unknown as Target[]).map((t) => `${d.uid}/${p.title}/${t.refId} ${t.expr}`),
      ),
    );
    const listed = QUERIES.filter((q) => q.source === 'panel').map((q) => `${q.id} ${q.expr}`);
    expect(listed.sort()).toEqual(fromJson.sort());
  });

  it('holds every alert expression', () => {
    const listed = QUERIES.filter((q) => q.source === 'alert').map((q) => q.expr);
    expect(listed).toEqual(ALERT_RULES.map((r) => r.expr));
  });

  it('flags core panels on every dashboard, and never an alert', () => {
    for (const d of dashboards) {
      expect(
        QUERIES.some((q) => q.dashboard === d.uid && q.core),
        d.uid,
      ).toBe(true);
    }
    expect(QUERIES.filter((q) => q.source === 'alert' && q.core)).toEqual([]);
  });

  it('expands every Grafana variable for Prometheus, and refuses an unknown one', () => {
    for (const q of QUERIES) expect(expandVariables(q.expr)).not.toContain('$');
    expect(
      expandVariables('rate(x{instance=~"$instance"}[$__rate_interval])', {
        instance: 'h:1',
        rateInterval: '2m',
      }),
    ).toBe('rate(x{instance=~"h:1"}[2m])');
    expect(() => expandVariables('x[$__interval]')).toThrow(/unexpanded Grafana variable/);
  });
});
