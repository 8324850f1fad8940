import { Registry, collectDefaultMetrics } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DAXMON_METRICS, PROCESS_METRICS, seriesNames } from '../../dashboards/src/metrics-contract.js';
import { selectors } from '../../dashboards/src/promql-selectors.js';
import { QUERIES } from '../../dashboards/src/queries.js';

const SERIES = seriesNames();

/** Values a matcher can take, when it is a literal or a plain alternation (no Grafana variable). */
function literalValues(op: string, value: string): string[] | null {
  if (value.includes('$')) return null;
  if (op === '=' || op === '!=') return [value];
  return /^[a-z0-9_]+(\|[a-z0-9_]+)*$/.test(value) ? value.split('|') : null;
}

describe('metrics contract', () => {
  it('lists exactly the daxmon families of the issue, with their labels', () => {
    const shape = Object.entries(DAXMON_METRICS).map(
      ([name, spec]) => `${name}{${Object.keys(spec.labels).join(',')}} ${spec.type}`,
    );
    expect(shape).toEqual([
      'daxmon_events_total{type} counter',
      'daxmon_events_lost_total{backend,reason} counter',
      'daxmon_probe_missed_total{backend,probe} counter',
      'daxmon_program_runs{backend,probe,program} gauge',
      'daxmon_violations_total{kind,severity} counter',
      'daxmon_violations_suppressed_total{kind} counter',
      'daxmon_check_active{kind} gauge',
      'daxmon_pgmaps{} gauge',
      'daxmon_pgmap_info{pgmap,type,device} gauge',
      'daxmon_pgmap_folios{pgmap,state} gauge',
      'daxmon_tracked_folios{} gauge',
      'daxmon_state_bytes{} gauge',
      'daxmon_folio_evictions_total{} counter',
      'daxmon_probe_attached{probe,backend} gauge',
      'daxmon_backend_up{backend} gauge',
      'daxmon_backend_restarts_total{backend} counter',
      'daxmon_kernel_info{release,refcount_model} gauge',
      'daxmon_busy_page_wait_seconds{} histogram',
      'daxmon_busy_waits_open{} gauge',
      'daxmon_busy_wait_oldest_seconds{} gauge',
      'daxmon_confirmations_total{check,outcome} counter',
      'daxmon_pgmap_teardown_seconds{} histogram',
      'daxmon_gup_longterm_refused_total{} counter',
      'daxmon_scan_duration_seconds{} histogram',
      'daxmon_scan_pages_total{} counter',
      'daxmon_scan_drift_total{field} counter',
      'daxmon_scan_last_success_timestamp_seconds{} gauge',
      'daxmon_journal_write_errors_total{} counter',
      'daxmon_journal_damaged_records_total{} counter',
      'daxmon_journal_dropped_records_total{} counter',
      'daxmon_recording_dropped_events_total{} counter',
    ]);
  });

  it("lists exactly prom-client's default process metrics, with their types", async () => {
    const reg = new Registry();
    collectDefaultMetrics({ register: reg });
    const got = (await reg.getMetricsAsJSON()).map((m) => `${m.name} ${m.type}`).sort();
    const want = Object.entries(PROCESS_METRICS)
      .map(([name, spec]) => `${name} ${spec.type}`)
      .sort();
    expect(got).toEqual(want);
  });

  it('names counters with _total and nothing else with it', () => {
    for (const [name, spec] of Object.entries(DAXMON_METRICS)) {
      expect(name.endsWith('_total'), name).toBe(spec.type === 'counter');
    }
  });

  it.each(QUERIES.map((q) => [q.id, q] as const))(
    '%s uses only contract series, labels and values',
    (_id, q) => {
      const found = selectors(q.expr);
      expect(found.length, q.expr).toBeGreaterThan(0);
      for (const s of found) {
        const series = SERIES.get(s.name);
        expect(series, `${s.name} is not in dashboards/src/metrics-contract.ts`).toBeDefined();
        if (!series) continue;
        for (const m of s.matchers) {
          expect(Object.keys(series.labels), `${s.name} has no label ${m.label}`).toContain(m.label);
          const allowed = series.labels[m.label];
          const values = literalValues(m.op, m.value);
          if (allowed && values) {
            for (const v of values) expect(allowed, `${s.name}{${m.label}} cannot be ${v}`).toContain(v);
          }
        }
      }
      for (const [, labels] of q.expr.matchAll(/\b(?:by|without|on|ignoring) \(([^)]*)\)/g)) {
        const known = new Set([...found.flatMap((s) => Object.keys(SERIES.get(s.name)?.labels ?? {}))]);
        for (const l of (labels ?? '').split(',').map((x) => x.trim())) {
          expect(known, `grouping label ${l} in ${q.expr}`).toContain(l);
        }
      }
    },
  );

  it('every daxmon family appears on some dashboard', () => {
    const used = new Set(
      QUERIES.filter((q) => q.source === 'panel').flatMap((q) => selectors(q.expr).map((s) => s.name)),
    );
    for (const [name, spec] of Object.entries(DAXMON_METRICS)) {
      expect(used, name).toContain(spec.type === 'histogram' ? `${name}_bucket` : name);
    }
  });
});
