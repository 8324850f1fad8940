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
  const vs = f.violationsByScenario.get(p.base) ?? [];
  const unhealthy = s.unhealthy?.(ctx);
  if (!unhealthy && vs.length > 0)
    problems.push(
      `healthy scenario, daxmon reported ${vs.length} violation(s): ${vs.map(describe).join('; ')}`,
    );
  if (unhealthy) {
    // Not only no false alarms: the broken invariant must be reported, and nothing else.
    for (const k of unhealthy.kinds) {
      if (!vs.some((v) => v.kind === k)) problems.push(`${unhealthy.why}: daxmon reported no ${k}`);
    }
    const other = vs.filter((v) => !unhealthy.kinds.includes(v.kind));
    if (other.length > 0)
      problems.push(
        `unexpected violation(s) besides ${unhealthy.kinds.join(', ')}: ${other.map(describe).join('; ')}`,
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
