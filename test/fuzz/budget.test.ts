/**
 * The harness itself: a loaded machine that reaches the time budget after a case or two still
 * checks the floor of cases (FUZZ_MIN_RUNS), rather than passing having checked almost nothing.
 * The slow machine is played by a first case that spends the whole budget (busy, not asleep).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FUZZ_MIN_RUNS, FUZZ_MS, fuzz, fuzzAsync } from './budget.js';

function eatsTheBudget(): () => void {
  let first = true;
  return () => {
    if (!first) return;
    first = false;
    const end = Date.now() + FUZZ_MS + 20;
    while (Date.now() < end);
  };
}

describe('fuzz budget', () => {
  it('a property that hits the time limit at once still runs FUZZ_MIN_RUNS cases', () => {
    const slow = eatsTheBudget();
    const counter = { runs: 0 };
    let cases = 0;
    fuzz(
      fc.property(fc.integer(), () => {
        slow();
        cases++;
      }),
      counter,
    );
    expect(FUZZ_MIN_RUNS).toBeGreaterThanOrEqual(100);
    expect(cases).toBeGreaterThanOrEqual(FUZZ_MIN_RUNS);
    expect(counter.runs).toBe(cases);
  });

  it('fuzzAsync too, and minRuns overrides the floor', async () => {
    const slow = eatsTheBudget();
    const counter = { runs: 0 };
    await fuzzAsync(
      fc.asyncProperty(fc.integer(), async () => slow()),
      counter,
      { minRuns: 7 },
    );
    expect(counter.runs).toBeGreaterThanOrEqual(7);
  });

  it('a failing property still fails with its counterexample', () =>
    expect(() => fuzz(fc.property(fc.integer({ min: 5 }), (n) => n < 5))).toThrow(/Counterexample/));
});
