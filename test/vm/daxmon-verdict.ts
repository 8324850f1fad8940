/**
 * What the matrix asserts about daxmon as an observer, beyond the counts (issues 4 and 5): no false
 * alarm in a healthy scenario, the refcount model after the last unmap, PMD faults as order-9
 * folios, no lost events, and a recording whose replay gives the live daemon's final state. Pure.
 */
import type { Violation } from '../../src/violations/violation.js';
import type { DaxmonFindings } from './observer-daxmon.js';
import type { PlannedScenario } from './runner.js';
import type { TruthContext } from './truth.js';

function describe(v: Violation): string {
  return `${v.id} ${v.kind} (${v.invariant}) pfn ${v.pfn ?? '-'} by ${v.comm}[${v.pid}]: ${v.message}`;
}

/**
 * daxmon's violations in one scenario, split by what the scenario declares. The one definition of
 * "expected" and "unexpected" for both the matrix's assertion and its summary line.
 */
export interface ScenarioViolations {
  /** What the scenario breaks on this kernel; undefined for a healthy scenario. */
  unhealthy: { why: string; kinds: readonly string[] } | undefined;
  /** Of a kind the deliberately unhealthy scenario declares. */
  expected: Violation[];
  /** Any in a healthy scenario, or of a kind the unhealthy scenario does not declare: each fails it. */
  unexpected: Violation[];
}

export function scenarioViolations(
  p: PlannedScenario,
  ctx: TruthContext,
  f: DaxmonFindings,
): ScenarioViolations {
  const vs = f.violationsByScenario.get(p.base) ?? [];
  const unhealthy = p.scenario.unhealthy?.(ctx);
  const declared = (v: Violation): boolean => unhealthy?.kinds.includes(v.kind) ?? false;
  return { unhealthy, expected: vs.filter(declared), unexpected: vs.filter((v) => !declared(v)) };
}

/**
 * Problems of one scenario as daxmon saw it (empty when daxmon's view matches the model), and what
 * could not be checked, with the reason.
 */
export function daxmonScenarioProblems(
  p: PlannedScenario,
  ctx: TruthContext,
  f: DaxmonFindings,
): { problems: string[]; notCovered: string[] } {
  const s = p.scenario;
  const problems: string[] = [];
  const notCovered: string[] = [];
  const { unhealthy, expected, unexpected } = scenarioViolations(p, ctx, f);
  if (!unhealthy && unexpected.length > 0)
    problems.push(
      `healthy scenario, daxmon reported ${unexpected.length} violation(s): ${unexpected.map(describe).join('; ')}`,
    );
  if (unhealthy) {
    // Not only no false alarms: the broken invariant must be reported, and nothing else.
    for (const k of unhealthy.kinds) {
      if (!expected.some((v) => v.kind === k)) problems.push(`${unhealthy.why}: daxmon reported no ${k}`);
    }
    if (unexpected.length > 0)
      problems.push(
        `unexpected violation(s) besides ${unhealthy.kinds.join(', ')}: ${unexpected.map(describe).join('; ')}`,
      );
  }
  const r = f.refcounts.get(p.base);
  // The last unmap happens inside the scenario for every FS DAX workload except the holders (whose
  // pgmap is torn down under them); device-dax pages are MEMORY_DEVICE_GENERIC, idle at 1 in both
  // models and never freed, which daxmon's events do not show returning to 1 after a PMD unmap.
  if (s.needs === 'fs' && !s.holds) {
    if (!r || r.mapped === 0) problems.push('daxmon saw no folio mapped by the workload');
    else problems.push(...r.problems);
    const why = s.unseenGetRelease?.(ctx);
    if (r && r.unseenRelease > 0 && why)
      notCovered.push(`refcount end of ${r.unseenRelease} folio(s) not checked: ${why}`);
  }
  if (s.name === 'pmd-fault' && r) {
    const orders = Object.keys(r.orders).map(Number);
    if (orders.length !== 1 || orders[0] !== 9)
      problems.push(`PMD faults must map order-9 folios, daxmon saw orders ${JSON.stringify(r.orders)}`);
    if (ctx.model === 'new' && JSON.stringify(Object.keys(r.freeOrders)) !== '["9"]')
      problems.push(`PMD folios must be freed as order 9, daxmon saw ${JSON.stringify(r.freeOrders)}`);
  }
  return { problems, notCovered };
}

/**
 * A boot's violations for its summary line, counted by `scenarioViolations` and the boot check:
 * `unexpected` (in a healthy scenario, of an undeclared kind, or before the first scenario) fails
 * the run whenever it is not 0; `expected` are those the deliberately unhealthy scenarios declare.
 */
export interface ViolationTally {
  unexpected: number;
  expected: { scenario: string; kind: string; count: number }[];
}

export function violationTally(
  plan: readonly PlannedScenario[],
  ctx: TruthContext,
  f: DaxmonFindings,
): ViolationTally {
  let unexpected = (f.violationsByScenario.get(0) ?? []).length;
  const expected: ViolationTally['expected'] = [];
  for (const p of plan) {
    const v = scenarioViolations(p, ctx, f);
    unexpected += v.unexpected.length;
    for (const kind of v.unhealthy?.kinds ?? []) {
      const count = v.expected.filter((x) => x.kind === kind).length;
      if (count > 0) expected.push({ scenario: p.scenario.name, kind, count });
    }
  }
  return { unexpected, expected };
}

/** Problems of the whole boot: lost events, violations outside any scenario, record vs replay. */
export function daxmonBootProblems(f: DaxmonFindings): string[] {
  const problems: string[] = [];
  if (f.lost > 0) problems.push(`daxmon lost ${f.lost} events`);
  if (f.events === 0) problems.push('daxmon recorded no events');
  const before = f.violationsByScenario.get(0) ?? [];
  if (before.length > 0)
    problems.push(`violations before the first scenario: ${before.map(describe).join('; ')}`);
  if (!f.live) problems.push('no live state saved');
  if (!f.replay) problems.push('the recording was not replayed');
  problems.push(...f.replayDiffs.map((d) => `record/replay: ${d}`));
  return problems;
}
