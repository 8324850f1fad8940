/**
 * Renders the alert rules and their promtool tests to YAML documents.
 */
import type { YamlValue } from '../yaml.js';
import type { AlertRule } from './rules.js';
import type { AlertTestGroup, Labels } from './tests.js';

export const RULES_FILE = 'alerts.yml';
export const TESTS_FILE = 'alerts.test.yml';

const TEMPLATE = /\{\{\s*\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g;

/** Expands `{{ $labels.x }}` the way Prometheus does for an alert with these labels. */
export function expandTemplate(text: string, labels: Labels): string {
  const out = text.replace(TEMPLATE, (_m, name: string) => labels[name] ?? '');
  if (out.includes('{{')) throw new Error(`unsupported template in annotation: ${text}`);
  return out;
}

export function annotations(rule: AlertRule): Record<string, string> {
  return { summary: rule.summary, description: rule.description, runbook: rule.runbook };
}

export function rulesDocument(rules: readonly AlertRule[]): YamlValue {
  const groups = [...new Set(rules.map((r) => r.group))];
  return {
    groups: groups.map((name) => ({
      name,
      rules: rules
        .filter((r) => r.group === name)
        .map((r) => ({
          alert: r.alert,
          expr: r.expr,
          ...(r.for ? { for: r.for } : {}),
          ...(r.severity || r.labels ? { labels: ruleLabels(r) } : {}),
          annotations: annotations(r),
        })),
    })),
  };
}

function ruleLabels(rule: AlertRule): Record<string, string> {
  return { ...(rule.severity ? { severity: rule.severity } : {}), ...rule.labels };
}

/** The labels Prometheus puts on an alert from `rule`: the series labels, then the rule's own. */
function alertLabels(rule: AlertRule, series: Labels): Labels {
  return { ...series, ...ruleLabels(rule) };
}

/**
 * Several rules share an alertname (DaxmonViolation, one per kind), so an expected alert is matched
 * to the rule for its kind, or to the catch-all rule of that name for a kind no rule names.
 */
export function ruleFor(rules: readonly AlertRule[], alert: string, labels: Labels): AlertRule {
  const candidates = rules.filter((r) => r.alert === alert);
  const rule =
    candidates.length === 1
      ? candidates[0]
      : (candidates.find((r) => r.kind !== undefined && r.kind === labels.kind) ??
        candidates.find((r) => r.kind === undefined));
  if (!rule) throw new Error(`no alert rule named ${alert}`);
  return rule;
}

export function testsDocument(rules: readonly AlertRule[], groups: readonly AlertTestGroup[]): YamlValue {
  return {
    rule_files: [RULES_FILE],
    evaluation_interval: '1m',
    tests: groups.map((g) => ({
      name: g.name,
      interval: '1m',
      input_series: g.series.map((s) => ({ series: s.series, values: s.values })),
      alert_rule_test: g.evals.map((e) => ({
        eval_time: e.at,
        alertname: e.alert,
        exp_alerts: e.firing.map((labels) => {
          const rule = ruleFor(rules, e.alert, labels);
          const all = alertLabels(rule, labels);
          const notes = Object.fromEntries(
            Object.entries(annotations(rule)).map(([k, v]) => [k, expandTemplate(v, labels)]),
          );
          return { exp_labels: { ...all }, exp_annotations: notes };
        }),
      })),
    })),
  };
}
