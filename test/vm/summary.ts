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
    const violations = [...d.violationsByScenario.values()].reduce((a, v) => a + v.length, 0);
    const unavailable = d.probes.filter((p) => !p.attached).map((p) => p.probe);
    lines.push(
      `  daxmon ${d.backend}: ready in ${d.readyMs ?? '?'} ms, ${d.probes.filter((p) => p.attached).length} probes attached` +
        `${unavailable.length ? ` (unavailable: ${unavailable.join(', ')})` : ''}, ${d.events} events, ` +
        `${d.lost} lost, ${violations} violations, replay ${d.replayDiffs.length === 0 ? 'equal' : 'DIFFERS'}`,
    );
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
