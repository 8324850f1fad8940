import type { Counts } from './observer.js';
import type { Expect, GroundTruth } from './truth.js';

export interface StepComparison {
  step: string;
  phase: number;
  expected: Record<string, Expect>;
  observed: Counts;
  mismatches: string[];
}

export interface Comparison {
  ok: boolean;
  steps: StepComparison[];
  mismatches: string[];
  /** Expectations the observer cannot check at all (ObserverOutput.notObserved), with the reason. */
  notCovered: string[];
}

function fits(e: Expect, n: number): boolean {
  if (typeof e === 'number') return n === e;
  return n >= e.min && (e.max === undefined || n <= e.max);
}

function show(e: Expect): string {
  if (typeof e === 'number') return String(e);
  return e.max === undefined ? `>= ${e.min}` : `${e.min}..${e.max}`;
}

/**
 * Compares observed counts per phase with a scenario's ground truth. A counter the kernel has no hook
 * for (`unavailable`) can only be expected to be 0; expecting more of it is itself a failure, since
 * the scenario would then prove nothing on that kernel.
 */
export function compareToTruth(
  truth: GroundTruth,
  steps: readonly string[],
  base: number,
  counts: ReadonlyMap<number, Counts>,
  unavailable: readonly string[],
  facts: Record<string, unknown>,
  notObserved: Readonly<Record<string, string>> = {},
): Comparison {
  const out: StepComparison[] = [];
  const all: string[] = [];
  const notCovered: string[] = [];
  for (const [step, expected] of Object.entries(truth.steps)) {
    const idx = steps.indexOf(step);
    if (idx < 0) {
      all.push(`ground truth names unknown step "${step}"`);
      continue;
    }
    const phase = base + idx + 1;
    const observed = counts.get(phase) ?? {};
    const mismatches: string[] = [];
    for (const [counter, e] of Object.entries(expected)) {
      const why = notObserved[counter];
      if (why !== undefined) {
        if (!(typeof e === 'number' && e === 0))
          notCovered.push(`${step}: ${counter} expected ${show(e)}, not checked: ${why}`);
        continue;
      }
      if (unavailable.includes(counter)) {
        if (!(typeof e === 'number' && e === 0))
          mismatches.push(`${step}: ${counter} expected ${show(e)} but this kernel has no hook for it`);
        continue;
      }
      const n = observed[counter] ?? 0;
      if (!fits(e, n)) mismatches.push(`${step}: ${counter} expected ${show(e)}, observed ${n}`);
    }
    out.push({ step, phase, expected, observed, mismatches });
    all.push(...mismatches);
  }
  for (const [k, v] of Object.entries(truth.facts ?? {})) {
    if (facts[k] !== v)
      all.push(`fact ${k}: expected ${JSON.stringify(v)}, workload reported ${JSON.stringify(facts[k])}`);
  }
  return { ok: all.length === 0, steps: out, mismatches: all, notCovered };
}
