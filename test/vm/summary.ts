import type { ViolationTally } from './daxmon-verdict.js';
import type { DaxmonObserverOutput } from './observer-daxmon.js';
import type { BootResult } from './runner.js';

/** One block per boot for the end of a run: figures the issue's closing note asks for. */
export function formatBootSummary(b: BootResult): string {
  const g = b.guest;
  const passed = b.scenarios.filter((s) => s.status === 'passed').length;
  const skipped = b.scenarios.filter((s) => s.status === 'skipped').length;
  const lines = [
    `${g.kernelRelease} (${b.ctx.model} model) ${g.pmem}${g.fs ? `/${g.fs}` : ''} [${b.observer}]: ${g.status}, ` +
      `boot ${g.bootSeconds?.toFixed(1) ?? '?'} s (guest ${g.guestBootSeconds?.toFixed(1) ?? '?'} s), ` +
      `job ${g.jobSeconds?.toFixed(1) ?? '?'} s, total ${g.totalSeconds.toFixed(1)} s, retries ${g.retries}, ` +
      `scenarios ${passed} passed, ${b.scenarios.length - passed - skipped} failed, ${skipped} skipped`,
  ];
  const d = 'daxmon' in b.observerOutput ? (b.observerOutput as DaxmonObserverOutput).daxmon : undefined;
  if (d) {
    const unavailable = d.probes.filter((p) => !p.attached).map((p) => p.probe);
    lines.push(
      `  daxmon ${d.backend}: ready in ${d.readyMs ?? '?'} ms, ${d.probes.filter((p) => p.attached).length} probes attached` +
        `${unavailable.length ? ` (unavailable: ${unavailable.join(', ')})` : ''}, ${d.events} events, ` +
        `${d.lost} lost, replay ${d.replayDiffs.length === 0 ? 'equal' : 'DIFFERS'}`,
    );
    if (b.violations) lines.push(`  ${formatViolationTally(b.violations)}`);
  }
  for (const p of b.bootProblems) lines.push(`  ${p}`);
  for (const s of b.scenarios) {
    if (s.status !== 'passed') {
      lines.push(
        `  ${s.name}: ${s.status} ${s.skipReason ?? ''}${[...s.problems, ...(s.comparison?.mismatches ?? [])].join('; ')}`,
      );
    }
  }
  return lines.join('\n');
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/**
 * A boot's violations, healthy and deliberately unhealthy scenarios apart: a bare total would read
 * as a failure of a boot whose only violations are those its unhealthy scenarios must produce.
 */
export function formatViolationTally(t: ViolationTally): string {
  const expected = t.expected.reduce((n, e) => n + e.count, 0);
  const scenarios = new Set(t.expected.map((e) => e.scenario)).size;
  const detail = t.expected.map((e) => `${e.scenario}: ${e.count} ${e.kind}`).join(', ');
  return (
    `violations: ${t.unexpected} in healthy scenarios or of undeclared kinds (must be 0${t.unexpected > 0 ? ': FAILED' : ''}); ` +
    `${plural(expected, 'violation')} as declared by ` +
    (scenarios === 0
      ? 'no deliberately unhealthy scenario'
      : `${plural(scenarios, 'deliberately unhealthy scenario')} (${detail})`)
  );
}
