/**
 * The fuzz suite's one knob set, shared by every test/fuzz/*.fuzz.test.ts: a printed seed (so a
 * failure can be replayed with DAXMON_FUZZ_SEED=<seed>), a time budget per property (so the suite
 * stays bounded on a busy machine: fast-check stops early at `interruptAfterTimeLimit`, it never
 * fails for being slow) and the corpus of inputs that once crashed daxmon, replayed on every run.
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
export function fuzz<T>(prop: fc.IProperty<T>, counter?: { runs: number }): void {
  const details = fc.check(prop, fuzzParams<T>());
  if (counter) counter.runs += details.numRuns;
  if (details.failed) throw new Error(fc.defaultReportMessage(details) ?? 'fuzz property failed');
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
export async function fuzzAsync<T>(prop: fc.IAsyncProperty<T>, counter?: { runs: number }): Promise<void> {
  const details = await fc.check(prop, fuzzParams<T>());
  if (counter) counter.runs += details.numRuns;
  if (details.failed) throw new Error(fc.defaultReportMessage(details) ?? 'fuzz property failed');
}
