/**
 * What an open live view costs event intake. One process serves daxmon's HTTP app over a 1 GiB
 * pgmap (262,144 pages, scanned once, 50,000 tracked folios) while the pipeline ingests healthy
 * page lifecycles in chunks, yielding to the event loop between chunks as the live daemon's
 * intake does between reads. Another process plays the page (a browser is one): it polls what
 * view/view.js polls at its rates (violations every 250 ms; state and the map every second; checks every 5 s). Phases
 * alternate closed / open in the same run, and the figure is the ratio of the median intake rates
 * (open / closed: 1 = no measurable loss).
 */
import { spawn } from 'node:child_process';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { DaxmonMetrics } from '../src/metrics/registry.js';
import { buildPipeline } from '../src/pipeline.js';
import { ScanService } from '../src/scan/service.js';
import { buildServer } from '../src/server/app.js';
import { ViolationStore } from '../src/violations/store.js';
import { PMEM_PAGES, PMEM_PFN, Stream } from '../test/helpers/events.js';
import { ImageScanner } from '../test/helpers/scan-world.js';

export interface ViewCostBench {
  phaseSeconds: number;
  closedEventsPerSecond: number[];
  openEventsPerSecond: number[];
  /** Requests the page made while open. */
  requests: number;
  /**
   * CPU milliseconds daxmon spends serving one second of the page (4 violation polls, the state,
   * one map recomputation, a fifth of a checks poll), measured over in-process requests.
   */
  cpuMsPerPageSecond: number;
  /** median(open) / median(closed). */
  ratio: number;
}

const POLLER = `
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true });
const url = process.argv[1];
let n = 0, stop = false;
process.on('message', (m) => { if (m === 'stop') stop = true; });
const loop = (path, ms) => (async () => {
  while (!stop) {
    const t0 = Date.now();
    await new Promise((done) => http.get(url + path, { agent }, (r) => { r.resume(); r.on('end', () => { n++; done(); }); }).on('error', done));
    await new Promise((r) => setTimeout(r, Math.max(0, ms - (Date.now() - t0))));
  }
})();
Promise.all([
  loop('api/violations?limit=25', 250),
  loop('api/state', 1000),
  loop('api/pgmaps/pm0/map?cells=4096', 1000),
  loop('api/checks', 5000),
]).then(() => process.send(n, () => process.exit(0)));
`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function benchViewCost(phaseSeconds = 2, pairs = 3): Promise<ViewCostBench> {
  const pipeline = buildPipeline({ model: 'new', kernelRelease: 'bench', sink: { violation() {} } });
  const setup = new Stream('new').pgmap('fs_dax', PMEM_PFN, PMEM_PAGES);
  for (let i = 0; i < 50_000; i++) setup.insert(PMEM_PFN + 100_000 + i).map(PMEM_PFN + 100_000 + i, 1, 1);
  for (const e of setup.events) pipeline.ingest(e);
  const image = new Map();
  for (let i = 0; i < 50_000; i++)
    image.set(PMEM_PFN + 100_000 + i, { refcount: 1, mapcount: 1, mapping: true });
  const scan = new ScanService({
    state: pipeline.state,
    model: 'new',
    scanner: new ImageScanner(image),
    config: { intervalSeconds: 0, pagesPerSecond: 1e9 },
    ingest: (e) => pipeline.ingest(e),
    nowNs: () => pipeline.state.lastT + 1,
  });
  await scan.scanNow();
  const kernel = { release: 'bench', model: 'new' as const };
  const metrics = new DaxmonMetrics(
    {
      state: pipeline.state,
      engine: pipeline.engine,
      kernel,
      backends: () => [],
      now: () => pipeline.state.lastT,
      scan,
    },
    { processMetrics: false },
  );
  const app = buildServer({
    state: pipeline.state,
    engine: pipeline.engine,
    metrics,
    violations: new ViolationStore(),
    kernel: { ...kernel, evidence: [] },
    readiness: () => ({ ready: true, reason: '' }),
    backends: () => [],
    now: () => pipeline.state.lastT,
    scan,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/`;

  // Intake: healthy lifecycles of 20,000 pages, replayed over and over (each leaves its page as it found it).
  const work = new Stream('new');
  work.t = pipeline.state.lastT;
  for (let i = 0; i < 20_000; i++) work.healthyPage(PMEM_PFN + i);
  const events = work.events;
  const CHUNK = 2000;

  const intake = async (): Promise<number> => {
    const end = process.hrtime.bigint() + BigInt(Math.round(phaseSeconds * 1e9));
    const t0 = process.hrtime.bigint();
    let n = 0;
    let k = 0;
    while (process.hrtime.bigint() < end) {
      for (let i = 0; i < CHUNK; i++) {
        pipeline.ingest(events[k]!);
        k = k + 1 === events.length ? 0 : k + 1;
      }
      n += CHUNK;
      await yieldLoop();
    }
    return n / (Number(process.hrtime.bigint() - t0) / 1e9);
  };

  const closed: number[] = [];
  const open: number[] = [];
  let requests = 0;
  await intake(); // warm-up
  for (let p = 0; p < pairs; p++) {
    closed.push(await intake());
    const page = spawn(process.execPath, ['-e', POLLER, url], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const done = new Promise<number>((r) => page.once('message', (n) => r(Number(n))));
    await new Promise((r) => setTimeout(r, 300)); // the page's first requests are under way
    open.push(await intake());
    page.send('stop');
    requests += await done;
  }
  // One page-second's requests, 20 times; the map's cell count alternates so that each one is a
  // recomputation (the 500 ms cache would otherwise answer most of them).
  const c0 = process.cpuUsage();
  for (let i = 0; i < 20; i++) {
    for (let k = 0; k < 4; k++) await app.inject('/api/violations?limit=25');
    await app.inject('/api/state');
    await app.inject(`/api/pgmaps/pm0/map?cells=${4096 - (i % 2)}`);
    if (i % 5 === 0) await app.inject('/api/checks');
  }
  const cpu = process.cpuUsage(c0);
  await app.close();
  return {
    cpuMsPerPageSecond: Number(((cpu.user + cpu.system) / 1e3 / 20).toFixed(2)),
    phaseSeconds,
    closedEventsPerSecond: closed.map(Math.round),
    openEventsPerSecond: open.map(Math.round),
    requests,
    ratio: Number((median(open) / median(closed)).toFixed(3)),
  };
}
