import { describe, expect, it } from 'vitest';
import type { Violation } from '../../src/violations/violation.js';
import { daxmonBootProblems, daxmonScenarioProblems, violationTally } from '../vm/daxmon-verdict.js';
import type { DaxmonFindings } from '../vm/observer-daxmon.js';
import { planScenarios } from '../vm/runner.js';
import { SCENARIOS } from '../vm/scenarios.js';
import { formatViolationTally } from '../vm/summary.js';

function violation(kind: string, t = 5): Violation {
  return { id: 'v', kind, invariant: 'V4', t, pfn: 1, comm: 'daxwl', pid: 1, message: 'm' } as Violation;
}

function findings(byBase: [number, Violation[]][]): DaxmonFindings {
  return {
    backend: 'libbpf',
    model: 'old',
    readyMs: 1000,
    events: 10,
    lost: 0,
    probes: [],
    violationsByScenario: new Map(byBase),
    refcounts: new Map(),
    live: undefined,
    replay: undefined,
    replayDiffs: [],
  };
}

// The 6.12 memmap boot: pin-truncate-unmapped is unhealthy on the old model, unbind-mapped always.
const plan = planScenarios(SCENARIOS.filter((s) => s.needs === 'fs'));
const ctxOld = { model: 'old' as const, series: '6.12', pmem: 'memmap' as const, fs: 'ext4' as const };
const ctxNew = { ...ctxOld, model: 'new' as const, series: '7' };
const base = (name: string): number => plan.find((p) => p.scenario.name === name)!.base;
const v4 = Array.from({ length: 16 }, () => violation('entry_removed_while_busy'));

describe('a boot’s violations in its summary', () => {
  it('counts the declared violations of the unhealthy scenarios apart from the rest', () => {
    const f = findings([
      [base('pin-truncate-unmapped'), v4],
      [base('unbind-mapped'), [violation('teardown_with_live_folios')]],
    ]);
    const t = violationTally(plan, ctxOld, f);
    expect(t).toEqual({
      unexpected: 0,
      expected: [
        { scenario: 'pin-truncate-unmapped', kind: 'entry_removed_while_busy', count: 16 },
        { scenario: 'unbind-mapped', kind: 'teardown_with_live_folios', count: 1 },
      ],
    });
    expect(formatViolationTally(t)).toBe(
      'violations: 0 in healthy scenarios or of undeclared kinds (must be 0); 17 violations as declared by ' +
        '2 deliberately unhealthy scenarios (pin-truncate-unmapped: 16 entry_removed_while_busy, ' +
        'unbind-mapped: 1 teardown_with_live_folios)',
    );
    // The same split as the assertion: none of these fails a scenario.
    for (const p of plan)
      expect(daxmonScenarioProblems(p, ctxOld, f).problems.join()).not.toMatch(/violation/);
  });

  it('counts what fails the run as unexpected: healthy scenarios, undeclared kinds, before the first', () => {
    // On the new model pin-truncate-unmapped is healthy: its V4 is now a false alarm.
    const f = findings([
      [0, [violation('refcount_underflow', 1)]],
      [base('pin-truncate-unmapped'), v4.slice(0, 2)],
      [base('unbind-mapped'), [violation('teardown_with_live_folios'), violation('refcount_underflow')]],
    ]);
    const t = violationTally(plan, ctxNew, f);
    expect(t.unexpected).toBe(4);
    expect(t.expected).toEqual([{ scenario: 'unbind-mapped', kind: 'teardown_with_live_folios', count: 1 }]);
    expect(formatViolationTally(t)).toBe(
      'violations: 4 in healthy scenarios or of undeclared kinds (must be 0: FAILED); 1 violation as declared by ' +
        '1 deliberately unhealthy scenario (unbind-mapped: 1 teardown_with_live_folios)',
    );
    // Each of the four is one the assertions fail on.
    const failing = [
      ...daxmonBootProblems(f).filter((p) => /violations before/.test(p)),
      ...plan.flatMap((p) =>
        daxmonScenarioProblems(p, ctxNew, f).problems.filter((x) => /violation/.test(x)),
      ),
    ];
    expect(failing).toHaveLength(3);
  });

  it('says so when no unhealthy scenario ran', () => {
    expect(formatViolationTally({ unexpected: 0, expected: [] })).toBe(
      'violations: 0 in healthy scenarios or of undeclared kinds (must be 0); 0 violations as declared by ' +
        'no deliberately unhealthy scenario',
    );
  });
});
