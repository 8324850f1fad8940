/**
 * All benchmarks, each reported as a ratio measured within this one run (the machines are noisy:
 * absolute numbers move, ratios much less). `npm run bench`.
 *   replay:  events/s through the whole pipeline from NDJSON, and its ratio to JSON.parse alone
 *   memory:  bytes per tracked folio at ten million folios, and its ratio to the 1 GiB budget
 *   pgmaps:  seconds for 2,000 and 8,000 pgmap register/teardown pairs (and live pgmaps), and
 *            their ratio (4 = linear)
 *   view:    intake events/s with the live view open (its endpoints polled at its rates) and
 *            closed, alternating in this run, and their ratio (1 = no measurable loss)
 */
import { benchMemory } from './memory-per-folio.js';
import { benchPgmapChurn } from './pgmap-churn.js';
import { benchReplay } from './replay-throughput.js';
import { benchViewCost } from './view-cost.js';

const results = {
  replay: [await benchReplay('new'), await benchReplay('old')],
  memory: benchMemory(Number(process.env.DAXMON_BENCH_FOLIOS ?? 10_000_000)),
  pgmaps: benchPgmapChurn(),
  view: await benchViewCost(),
};
console.log(JSON.stringify(results, null, 2));
