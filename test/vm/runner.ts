import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GuestRun } from '../../lab/src/index.js';
import type { Comparison } from './compare.js';
import type { ViolationTally } from './daxmon-verdict.js';
import { compareToTruth } from './compare.js';
import type { Counts, Observer, ObserverOutput } from './observer.js';
import type { Scenario } from './scenarios.js';
import type { TruthContext } from './truth.js';

export interface PlannedScenario {
  scenario: Scenario;
  /** Phase ids of this scenario are base + step number (1-based). */
  base: number;
}

export function planScenarios(list: readonly Scenario[]): PlannedScenario[] {
  return list.map((scenario, i) => ({ scenario, base: (i + 1) * 100 }));
}

/** The guest job: start the observer, run each scenario in turn, stop the observer. */
export function renderScenarioJob(
  plan: readonly PlannedScenario[],
  observer: Observer,
  daxwl: string,
): string {
  const parts: string[] = [
    'mkdir -p "$DAXMON_RESULTS/scenarios" /tmp/daxmon/scenarios',
    'dmesg -c > "$DAXMON_RESULTS/dmesg-setup.txt" 2>&1',
    observer.startShell(),
  ];
  for (const { scenario: s, base } of plan) {
    const out = `"$DAXMON_RESULTS/scenarios/${s.name}`;
    parts.push(`echo "DAXMON_SCENARIO_BEGIN ${s.name} $(cut -d' ' -f1 /proc/uptime)"`);
    const run = s.holds
      ? `daxmon_bg_start scenarios/${s.name} ${daxwl} ${base} ${s.args}
  daxmon_bg_wait_for scenarios/${s.name} DAXWL_RESULT 180; rc=$?`
      : `timeout -s KILL 300 ${daxwl} ${base} ${s.args} > ${out}.out" 2> ${out}.err"; rc=$?`;
    const body = `t0=$(daxmon_now_ms)
  ${run}
  t1=$(daxmon_now_ms)
  echo "$rc $((t1 - t0))" > ${out}.rc"`;
    parts.push(
      s.precondition
        ? `if ${s.precondition.test}; then\n  ${body}\nelse\n  echo "skipped ${s.precondition.reason}" > ${out}.rc"\nfi`
        : `${body.replace(/^ {2}/gm, '')}`,
    );
    parts.push(`dmesg -c > ${out}.dmesg" 2>&1`);
    parts.push(`echo "DAXMON_SCENARIO_END ${s.name} rc=$(cat ${out}.rc") $(cut -d' ' -f1 /proc/uptime)"`);
  }
  parts.push(observer.stopShell());
  // Only now, with every count saved, do the holders exit: their exit unmaps and unpins pages whose
  // pgmap was torn down under them, which is exactly what the unbind scenarios are about. The exit
  // (and any oops) is read once the holder is a zombie or dead (Z/X; at most 60 s), not after a fixed
  // pause, which a busy host can outlast.
  for (const { scenario: s } of plan.filter((p) => p.scenario.holds)) {
    parts.push(`echo "DAXMON_HOLDER_EXIT ${s.name}"
h=$(daxmon_bg_pid scenarios/${s.name}); h_end=$(( $(daxmon_now_ms) + 60000 ))
kill -KILL "$h" 2>/dev/null
while [ -e /proc/$h ] && ! grep -qE '[)] [ZX] ' /proc/$h/stat 2>/dev/null && [ "$(daxmon_now_ms)" -lt "$h_end" ]; do sleep 0.2; done
sleep 1
dmesg -c > "$DAXMON_RESULTS/scenarios/${s.name}.exit-dmesg" 2>&1
echo "DAXMON_HOLDER_EXITED ${s.name}"`);
  }
  return parts.join('\n') + '\n';
}

export interface ScenarioResult {
  name: string;
  description: string;
  status: 'passed' | 'failed' | 'skipped';
  skipReason?: string;
  exitCode: number | undefined;
  durationMs: number | undefined;
  /** What the workload reported (DAXWL_RESULT). */
  facts: Record<string, unknown>;
  comparison: Comparison | undefined;
  /** Counts per step name, including counters the truth does not mention. */
  observedByStep: Record<string, Counts>;
  kernelWarnings: string[];
  problems: string[];
}

export interface BootResult {
  guest: GuestRun;
  ctx: TruthContext;
  observer: string;
  observerOutput: ObserverOutput;
  /** Problems of the observer over the whole boot (daxmon: lost events, record vs replay). */
  bootProblems: string[];
  /** Counts seen outside any scenario step (phase 0): should be empty. */
  idleCounts: Counts;
  /** daxmon observers: the boot's violations, expected or not (daxmon-verdict.ts `violationTally`). */
  violations?: ViolationTally;
  scenarios: ScenarioResult[];
}

const WARNING_RE = /WARNING: CPU: \d+ PID: \d+ at .*/g;

export async function collectScenario(
  p: PlannedScenario,
  resultsDir: string,
  ctx: TruthContext,
  obs: ObserverOutput,
): Promise<ScenarioResult> {
  const s = p.scenario;
  const file = (ext: string): Promise<string> =>
    readFile(join(resultsDir, 'scenarios', `${s.name}.${ext}`), 'utf8').catch(() => '');
  const rcText = (await file('rc')).trim();
  const base: ScenarioResult = {
    name: s.name,
    description: s.description,
    status: 'failed',
    exitCode: undefined,
    durationMs: undefined,
    facts: {},
    comparison: undefined,
    observedByStep: {},
    kernelWarnings: [],
    problems: [],
  };
  if (rcText.startsWith('skipped')) return { ...base, status: 'skipped', skipReason: rcText.slice(8) };
  const [rc, ms] = rcText.split(/\s+/).map((x) => Number.parseInt(x, 10));
  base.exitCode = rc;
  base.durationMs = ms;
  if (rcText === '') base.problems.push('the scenario never finished (no .rc file)');
  else if (rc !== 0)
    base.problems.push(`daxwl exited with ${rc}: ${(await file('err')).trim().slice(0, 400)}`);
  const m = /DAXWL_RESULT (\{.*\})/.exec(await file('out'));
  if (m?.[1]) {
    try {
      base.facts = JSON.parse(m[1]) as Record<string, unknown>;
    } catch {
      base.problems.push(`unparsable DAXWL_RESULT: ${m[1]}`);
    }
  } else if (rcText !== '') base.problems.push('the workload printed no DAXWL_RESULT');
  if (base.facts.ok === false) base.problems.push(`workload error: ${String(base.facts.error)}`);
  base.kernelWarnings = [...(await file('dmesg')).matchAll(WARNING_RE)].map((x) => x[0]);
  if (s.holds) {
    // What the holder's exit did after the teardown: an oops, and where (the RIP's function).
    const exit = await file('exit-dmesg');
    base.facts.exit_oops = /BUG: unable to handle|Oops: /.test(exit);
    const rip = /RIP: \d+:([A-Za-z0-9_.]+)\+/.exec(exit);
    if (rip?.[1]) base.facts.exit_oops_rip = rip[1];
  }
  s.steps.forEach((step, i) => {
    const c = obs.counts.get(p.base + i + 1);
    if (c) base.observedByStep[step] = c;
  });
  const truth = s.truth(ctx);
  base.comparison = compareToTruth(
    truth,
    s.steps,
    p.base,
    obs.counts,
    obs.unavailable,
    base.facts,
    obs.notObserved,
  );
  const expectedWarnings = truth.kernelWarnings ?? 0;
  if (base.kernelWarnings.length !== expectedWarnings) {
    base.problems.push(
      `expected ${expectedWarnings} kernel WARNING(s), dmesg has ${base.kernelWarnings.length}`,
    );
  }
  base.status = base.problems.length === 0 && base.comparison.ok ? 'passed' : 'failed';
  return base;
}
