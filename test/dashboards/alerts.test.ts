import { describe, expect, it } from 'vitest';
import { expandTemplate, ruleFor } from '../../dashboards/src/alerts/render.js';
import { ALERT_RULES } from '../../dashboards/src/alerts/rules.js';
import { ALERT_TESTS } from '../../dashboards/src/alerts/tests.js';
import { VIOLATION_KINDS } from '../../dashboards/src/metrics-contract.js';

const minutes = (d: string): number => {
  const m = /^(\d+)([smh])$/.exec(d);
  if (!m) throw new Error(`bad duration ${d}`);
  return Number(m[1]) * { s: 1 / 60, m: 1, h: 60 }[m[2] as 's' | 'm' | 'h'];
};

describe('alert rules', () => {
  it('cover every requested condition', () => {
    const names = new Set(ALERT_RULES.map((r) => r.alert));
    for (const n of [
      'DaxmonViolation',
      'DaxmonBusyPageWaitStuck',
      'DaxmonPgmapTeardownWithLiveFolios',
      'DaxmonEventsLost',
      'DaxmonProbeNotAttached',
      'DaxmonDown',
      'DaxmonScanDrift',
    ]) {
      expect(names).toContain(n);
    }
  });

  it('have one rule per violation kind, plus one for kinds not known yet', () => {
    const kinds = ALERT_RULES.filter((r) => r.kind).map((r) => r.kind);
    expect([...kinds].sort()).toEqual([...VIOLATION_KINDS].sort());
    expect(ALERT_RULES.filter((r) => r.alert === 'DaxmonViolation' && !r.kind)).toHaveLength(1);
  });

  it('have unique ids and no Grafana variables', () => {
    expect(new Set(ALERT_RULES.map((r) => r.id)).size).toBe(ALERT_RULES.length);
    for (const r of ALERT_RULES) expect(r.expr, r.id).not.toMatch(/\$/);
  });

  it.each(ALERT_RULES.map((r) => [r.id, r] as const))(
    '%s has a severity, a sensible for and a runbook',
    (_id, r) => {
      if (r.severity === null) {
        expect(r.expr, 'severity derived from the violation').toMatch(
          /label_replace\(.*"severity", "critical"/,
        );
      } else {
        expect(['critical', 'warning']).toContain(r.severity);
      }
      if (r.for !== undefined) expect(minutes(r.for)).toBeGreaterThan(0);
      if (r.for !== undefined) expect(minutes(r.for)).toBeLessThanOrEqual(15);
      expect(r.summary.length).toBeGreaterThan(10);
      expect(r.description.length).toBeGreaterThan(40);
      const steps = r.runbook.split('\n');
      expect(steps.length, 'at least three concrete steps').toBeGreaterThanOrEqual(3);
      steps.forEach((s, i) => expect(s).toMatch(new RegExp(`^${i + 1}\\. \\S`)));
    },
  );

  it('fire without `for` only on discrete events or an age that is already a duration', () => {
    const immediate = ALERT_RULES.filter((r) => r.for === undefined);
    for (const r of immediate) {
      expect(
        /increase\(/.test(r.expr) || r.expr.includes('daxmon_busy_wait_oldest_seconds'),
        `${r.id} needs a for: duration`,
      ).toBe(true);
    }
  });

  it('point violation runbooks at the API, the journal and dmesg', () => {
    for (const r of ALERT_RULES.filter((x) => x.kind || x.alert === 'DaxmonViolation')) {
      for (const needle of ['/api/violations', '/api/checks', 'journal', 'dmesg']) {
        expect(r.runbook, `${r.id} runbook mentions ${needle}`).toContain(needle);
      }
      if (r.kind) expect(r.runbook).toContain(`/api/violations?kind=${r.kind}`);
    }
  });

  it('use only {{ $labels.x }} templates, for labels the alert has', () => {
    for (const g of ALERT_TESTS) {
      for (const e of g.evals) {
        for (const labels of e.firing) {
          const r = ruleFor(ALERT_RULES, e.alert, labels);
          for (const text of [r.summary, r.description, r.runbook]) {
            for (const [, name] of text.matchAll(/\{\{\s*\$labels\.(\w+)\s*\}\}/g)) {
              expect(Object.keys(labels), `${r.id} uses $labels.${name}`).toContain(name);
            }
            expect(() => expandTemplate(text, labels)).not.toThrow();
          }
        }
      }
    }
  });
});

describe('alert unit tests', () => {
  it('name existing rules', () => {
    const ids = new Set(ALERT_RULES.map((r) => r.id));
    for (const g of ALERT_TESTS) expect(ids, g.name).toContain(g.rule);
  });

  it.each(ALERT_RULES.map((r) => [r.id, r] as const))('%s is tested firing and not firing', (_id, r) => {
    const groups = ALERT_TESTS.filter((g) => g.rule === r.id);
    const evals = groups.flatMap((g) => g.evals).filter((e) => e.alert === r.alert);
    const firesForThisRule = evals.some((e) =>
      e.firing.some((labels) => ruleFor(ALERT_RULES, e.alert, labels).id === r.id),
    );
    expect(firesForThisRule, 'an evaluation where it fires').toBe(true);
    expect(
      evals.some((e) => e.firing.length === 0),
      'an evaluation where it must not fire',
    ).toBe(true);
  });
});
