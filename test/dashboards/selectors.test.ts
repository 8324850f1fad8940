import { describe, expect, it } from 'vitest';
import { selectors } from '../../dashboards/src/promql-selectors.js';

describe('PromQL selector scanner', () => {
  it('finds metric names and matchers, not functions, aggregations, label lists or strings', () => {
    const expr =
      'label_replace(sum by (job, kind) (increase(daxmon_violations_total{kind="a", severity=~"e|w"}[10m])) > 0, "severity", "critical", "severity", "error")';
    expect(selectors(expr)).toEqual([
      {
        name: 'daxmon_violations_total',
        matchers: [
          { label: 'kind', op: '=', value: 'a' },
          { label: 'severity', op: '=~', value: 'e|w' },
        ],
      },
    ]);
  });

  it('handles joins, offsets, bare names, numbers and durations', () => {
    const expr =
      'a_total * on (instance, pgmap) group_left (type) b_info{x!="1"} unless c offset 10m > 1e-9 and histogram_quantile(0.99, sum by (le) (rate(d_bucket[$__rate_interval])))';
    expect(selectors(expr).map((s) => s.name)).toEqual(['a_total', 'b_info', 'c', 'd_bucket']);
    expect(selectors(expr)[1]?.matchers).toEqual([{ label: 'x', op: '!=', value: '1' }]);
  });

  it('reads escaped quotes inside matcher values', () => {
    expect(selectors('m{l="a\\"b"}')[0]?.matchers[0]?.value).toBe('a"b');
  });
});
