/**
 * The fuzz suite's one knob set, shared by every test/fuzz/*.fuzz.test.ts: a printed seed (so a
 * failure can be replayed with DAXMON_FUZZ_SEED=<seed>), a time budget per property (so the suite
 * stays bounded on a busy machine: fast-check stops early at `interruptAfterTimeLimit`, it never
 * fails for being slow), a floor of runs per property (so a loaded machine that reaches the time
 * limit after a handful of cases still checks FUZZ_MIN_RUNS of them: the rest are run without the
 * time limit, then the count is asserted) and the corpus of inputs that once crashed daxmon,
 * replayed on every run.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';

const envSeed = process.env.DAXMON_FUZZ_SEED;
/** One seed per run; printed once so that CI logs carry it. */
export const FUZZ_SEED = envSeed !== undefined && envSeed !== '' ? Number(envSeed) : Date.now() % 2 ** 31;
/** Milliseconds per property (default 3 s; DAXMON_FUZZ_MS raises it for a long local run). */
export const FUZZ_MS = Number(process.env.DAXMON_FUZZ_MS ?? 3000);
/** Upper bound on runs per property when the time budget is not hit first. */
export const FUZZ_RUNS = Number(process.env.DAXMON_FUZZ_RUNS ?? 2000);
/** Runs every property gets however slow the machine (DAXMON_FUZZ_MIN_RUNS, or per call `minRuns`). */
export const FUZZ_MIN_RUNS = Number(process.env.DAXMON_FUZZ_MIN_RUNS ?? 100);

/** Per-property options: `minRuns` overrides FUZZ_MIN_RUNS (a property whose cases are costly). */
export interface FuzzOptions {
  minRuns?: number;
}

/** The top-up's parameters: the cases still missing, another seed (so no case repeats), no time limit. */
function topUpParams<T>(done: number, min: number): fc.Parameters<T> {
  return { seed: (FUZZ_SEED + 1) % 2 ** 31, numRuns: min - done };
}

function checkRuns(total: number, min: number): void {
  if (total < min)
    throw new Error(`fuzz property ran ${total} cases, fewer than its floor of ${min} (FUZZ_MIN_RUNS)`);
}

let announced = false;
/** fast-check parameters for one property: the run's seed, its budget, and a counter of runs. */
export function fuzzParams<T>(): fc.Parameters<T> {
  if (!announced) {
    announced = true;
    console.log(
      `fuzz: seed ${FUZZ_SEED} (replay with DAXMON_FUZZ_SEED=${FUZZ_SEED}), ${FUZZ_MS} ms per property`,
    );
  }
  return {
    seed: FUZZ_SEED,
    numRuns: FUZZ_RUNS,
    interruptAfterTimeLimit: FUZZ_MS,
    markInterruptAsFailure: false,
  };
}

/**
 * Synchronous properties only (fc.property); for fc.asyncProperty use fuzzAsync.
 * Runs a property and fails with fast-check's own report (seed, path, counterexample) when it
 * fails. With a `counter`, the number of cases actually run is added to it (the closing figures).
 */
export function fuzz<T>(prop: fc.IProperty<T>, counter?: { runs: number }, opts: FuzzOptions = {}): void {
  const min = Math.min(opts.minRuns ?? FUZZ_MIN_RUNS, FUZZ_RUNS);
  let details = fc.check(prop, fuzzParams<T>());
  let total = details.numRuns;
  if (!details.failed && total < min) {
    // A top-up failure reports its own seed (the run's seed + 1) and path: replay with that seed.
    details = fc.check(prop, topUpParams<T>(total, min));
    total += details.numRuns;
  }
  if (counter) counter.runs += total;
  if (details.failed) throw new Error(fc.defaultReportMessage(details) ?? 'fuzz property failed');
  checkRuns(total, min);
}

const here = path.dirname(fileURLToPath(import.meta.url));
/** The kept inputs of one target: test/fuzz/corpus/<target>/* (each file one input, raw bytes). */
export function corpus(target: string): { name: string; bytes: Buffer }[] {
  const dir = path.join(here, 'corpus', target);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .sort()
    .map((name) => ({ name, bytes: fs.readFileSync(path.join(dir, name)) }));
}

/** fuzz() for fc.asyncProperty. */
export async function fuzzAsync<T>(
  prop: fc.IAsyncProperty<T>,
  counter?: { runs: number },
  opts: FuzzOptions = {},
): Promise<void> {
  const min = Math.min(opts.minRuns ?? FUZZ_MIN_RUNS, FUZZ_RUNS);
  let details = await fc.check(prop, fuzzParams<T>());
  let total = details.numRuns;
  if (!details.failed && total < min) {
    details = await fc.check(prop, topUpParams<T>(total, min));
    total += details.numRuns;
  }
  if (counter) counter.runs += total;
  if (details.failed) throw new Error(fc.defaultReportMessage(details) ?? 'fuzz property failed');
  checkRuns(total, min);
}
