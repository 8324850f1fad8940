import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VmError } from './errors.js';
import type { GuestRun } from './guest.js';
import { runGuest } from './guest.js';
import { ensureKernel } from './kernels.js';
import type { Logger } from './log.js';
import { defaultLogger } from './log.js';
import { assertCacheOutsideRepo, defaultCacheDir } from './paths.js';
import type { DaxFs, PmemKind } from './pmem.js';
import type { LabPrometheus } from './prometheus.js';
import { LAB_SCRAPE_JOB, findPrometheus, startLabPrometheus } from './prometheus.js';

export interface LabOptions {
  /** The daxmon checkout; mounted read-only at the same path in the guest. */
  repoDir: string;
  /**
   * The daxmon process to run in the guest (argv; `@RESULTS@` in an argument stands for the run's
   * results folder). Default: `node <repoDir>/dist/cli.js run --listen 0.0.0.0:<guestPort>
   * --journal-dir @RESULTS@/journal` with the host's node.
   */
  command?: string[];
  /** The port daxmon listens on in the guest. Default 9464. */
  guestPort?: number;
  /** Kernel series; default `7` (the new refcount model). */
  series?: string;
  pmem?: Exclude<PmemKind, 'nvdimm-devdax'>;
  fs?: DaxFs;
  /**
   * The DAX workload beside daxmon: `true` (default) loops the demo workload, `false` runs none, a
   * string is a Python program to run instead (argv[1] is the run's results folder).
   */
  workload?: boolean | string;
  /**
   * Run a Prometheus on the host that scrapes daxmon through the forwarded port with
   * dashboards/alerts.yml loaded (default: when `prometheus` is installed). `true` requires it.
   */
  prometheus?: boolean;
  /** The lab Prometheus's scrape and rule evaluation interval (default 2s). */
  scrapeInterval?: string;
  /** Called once the guest is up and the lab's Prometheus (if any) is ready. */
  onStarted?: (info: LabStarted) => void;
  cacheDir?: string;
  log?: Logger;
  /** Where the URLs and daxmon's output go (default stdout). */
  print?: (line: string) => void;
  /** Stops the lab like Ctrl-C does. */
  signal?: AbortSignal;
  /** Stop by itself after this long (CI smoke runs); default: run until stopped. */
  durationMs?: number;
  /** Install SIGINT/SIGTERM handlers that stop the lab cleanly (default true). */
  handleSignals?: boolean;
}

export interface LabStarted {
  urls: { base: string; metrics: string };
  /** The run's results folder (the guest sees it at the same path). */
  resultsDir: string;
  /** The lab Prometheus's base URL, when it runs. */
  prometheusUrl?: string;
}

export interface LabResult {
  guest: GuestRun;
  /** Host URLs of daxmon's HTTP server. */
  urls: { base: string; metrics: string };
  /** Whether a GET of /metrics through the forwarded port returned 200 while the lab ran. */
  metricsServed: boolean;
  /** The lab's Prometheus, if it ran: its URL and whether it saw `up{job="daxmon"} == 1`. */
  prometheus?: { url: string; scrapedDaxmon: boolean };
}

function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

// A small FS DAX workload for the lab's dashboards: map, write every page, unmap, truncate, once a
// second, so faults, inserts and frees keep moving. Python because the host's python3 is in the
// guest's view of the root and needs no build step.
const DEMO_WORKLOAD = `import mmap, os, time
path = os.path.join(os.environ.get("DAX_MNT", "/mnt/dax"), "daxmon-lab-demo")
size = 4 << 20
while True:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    os.ftruncate(fd, size)
    m = mmap.mmap(fd, size)
    for off in range(0, size, 4096):
        m[off] = 1
    m.close()
    os.ftruncate(fd, 0)
    os.close(fd)
    time.sleep(1)
`;

const STOP_FILE = 'lab-stop';

/** In a lab command argument, stands for the run's results folder (the same path in guest and host). */
export const RESULTS_TOKEN = '@RESULTS@';

export function renderLabJob(command: readonly string[], workload: boolean | string): string {
  const cmd = command.map((a) => shellQuote(a).split(RESULTS_TOKEN).join(`'"$DAXMON_RESULTS"'`)).join(' ');
  const program = typeof workload === 'string' ? workload : DEMO_WORKLOAD;
  return `cat > /tmp/daxmon/demo.py <<'DAXMON_DEMO'
${program.endsWith('\n') ? program : `${program}\n`}DAXMON_DEMO
${workload !== false ? 'daxmon_bg_start lab-workload python3 /tmp/daxmon/demo.py "$DAXMON_RESULTS"' : ': no demo workload'}
daxmon_bg_start daxmon ${cmd}
tail -q -n +1 -F "$DAXMON_RESULTS/daxmon.out" "$DAXMON_RESULTS/daxmon.err" 2>/dev/null | sed -u 's/^/[daxmon] /' &
echo "DAXMON_LAB_STARTED"
while [ ! -f "$DAXMON_RESULTS/${STOP_FILE}" ]; do
  if ! kill -0 "$(daxmon_bg_pid daxmon)" 2>/dev/null; then echo "DAXMON_LAB_DAXMON_EXITED"; break; fi
  sleep 1
done
daxmon_bg_stop daxmon TERM 15
${workload !== false ? 'daxmon_bg_stop lab-workload TERM 5' : ''}
sleep 1
`;
}

/** Whether the lab Prometheus's last scrape of daxmon succeeded. */
async function prometheusSeesDaxmon(url: string): Promise<boolean> {
  try {
    const q = encodeURIComponent(`up{job="${LAB_SCRAPE_JOB}"} == 1`);
    const r = await fetch(`${url}/api/v1/query?query=${q}`, { signal: AbortSignal.timeout(5000) });
    const body = (await r.json()) as { data?: { result?: unknown[] } };
    return (body.data?.result?.length ?? 0) > 0;
  } catch {
    return false;
  }
}

async function metricsOk(url: string): Promise<boolean> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
    await r.arrayBuffer();
    return r.status === 200;
  } catch {
    return false;
  }
}

/**
 * `daxmon lab`: boots the new-model guest with daxmon and a looping DAX workload inside, forwards
 * daxmon's port to 127.0.0.1, prints the URLs, and stops cleanly on SIGINT/SIGTERM (the first signal
 * asks the guest to stop daxmon and power off; a second one, or 60 s without an answer, kills qemu).
 */
export async function runLab(opts: LabOptions): Promise<LabResult> {
  const log = opts.log ?? defaultLogger;
  const print = opts.print ?? ((l: string) => process.stdout.write(`${l}\n`));
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  assertCacheOutsideRepo(cacheDir, opts.repoDir);
  const guestPort = opts.guestPort ?? 9464;
  const cli = join(opts.repoDir, 'dist', 'cli.js');
  if (!opts.command && !existsSync(cli)) {
    throw new VmError('DAXMON_E_VM_CONFIG', `${cli} does not exist; run npm run build first`);
  }
  // The journal goes to the results folder: the guest's /var is the host's, read-only over 9p, and
  // the host can read the journal after the lab stops.
  const command = opts.command ?? [
    process.execPath,
    cli,
    'run',
    '--listen',
    `0.0.0.0:${guestPort}`,
    '--journal-dir',
    `${RESULTS_TOKEN}/journal`,
  ];
  const prometheusBinary = opts.prometheus === false ? undefined : await findPrometheus();
  if (opts.prometheus === true && !prometheusBinary) {
    throw new VmError(
      'DAXMON_E_VM_TOOL_MISSING',
      'prometheus is not installed: apt-get install prometheus, or run the lab without it',
    );
  }
  const rulesFile = join(opts.repoDir, 'dashboards', 'alerts.yml');
  const kernel = await ensureKernel(opts.series ?? '7', { cacheDir, log });

  const kill = new AbortController();
  let resultsDir: string | undefined;
  let stopping = false;
  let urls = { base: '', metrics: '' };
  let metricsServed = false;
  let poller: NodeJS.Timeout | undefined;
  let durationTimer: NodeJS.Timeout | undefined;
  let hardStop: NodeJS.Timeout | undefined;
  let prometheus: Promise<LabPrometheus | undefined> | undefined;
  let scrapedDaxmon = false;

  const stop = (why: string): void => {
    if (stopping) {
      log(`${why} again: killing the guest`);
      kill.abort();
      return;
    }
    stopping = true;
    log(`${why}: stopping daxmon and powering the guest off (again to force)`);
    if (resultsDir) void writeFile(join(resultsDir, STOP_FILE), 'stop\n').catch(() => kill.abort());
    else kill.abort();
    hardStop = setTimeout(() => kill.abort(), 60_000);
  };
  const onSignal = (sig: NodeJS.Signals): void => stop(sig);
  if (opts.handleSignals ?? true) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  opts.signal?.addEventListener('abort', () => stop('aborted'), { once: true });

  try {
    const guest = await runGuest({
      kernel,
      pmem: opts.pmem ?? 'memmap',
      fs: opts.fs ?? 'ext4',
      job: renderLabJob(command, opts.workload ?? true),
      shares: [{ hostPath: opts.repoDir, readonly: true }],
      forwardPorts: [guestPort],
      cacheDir,
      label: 'lab',
      log,
      signal: kill.signal,
      // The lab runs until stopped; the harness's job timeout must not end it.
      jobTimeoutMs: opts.durationMs !== undefined ? opts.durationMs + 120_000 : Number.POSITIVE_INFINITY,
      onReady: ({ hostPorts, runDir }) => {
        resultsDir = join(runDir, 'results');
        const port = hostPorts[guestPort];
        urls = { base: `http://127.0.0.1:${port}/`, metrics: `http://127.0.0.1:${port}/metrics` };
        print(`daxmon lab: guest ${kernel.release} is up; daxmon is starting (slow under emulation)`);
        print(`  metrics: ${urls.metrics}`);
        print(`  status:  ${urls.base}`);
        print(`  console: ${join(runDir, 'console-*.log')}`);
        print('  Ctrl-C stops daxmon and the guest');
        const results = resultsDir;
        prometheus = prometheusBinary
          ? startLabPrometheus({
              binary: prometheusBinary,
              target: `127.0.0.1:${port}`,
              ruleFiles: existsSync(rulesFile) ? [rulesFile] : [],
              ...(opts.scrapeInterval ? { scrapeInterval: opts.scrapeInterval } : {}),
            }).then(
              (p) => {
                print(`  prometheus: ${p.url}/ (scrapes daxmon, alerts from dashboards/alerts.yml)`);
                print(`  alerts:     ${p.url}/alerts`);
                return p;
              },
              (err: unknown) => {
                print(`daxmon lab: Prometheus did not start: ${(err as Error).message}`);
                return undefined;
              },
            )
          : Promise.resolve(undefined);
        void prometheus.then((p) => {
          if (!stopping)
            opts.onStarted?.({ urls, resultsDir: results, ...(p ? { prometheusUrl: p.url } : {}) });
        });
        poller = setInterval(() => {
          if (!metricsServed) {
            void metricsOk(urls.metrics).then((ok) => {
              if (ok && !metricsServed) {
                metricsServed = true;
                print(`daxmon lab: ${urls.metrics} answers`);
              }
            });
          } else if (!scrapedDaxmon) {
            void prometheus?.then(async (p) => {
              if (p && !scrapedDaxmon && (await prometheusSeesDaxmon(p.url))) {
                scrapedDaxmon = true;
                print(`daxmon lab: Prometheus scrapes daxmon (up == 1)`);
              }
            });
          }
        }, 2000);
        if (stopping) void writeFile(join(resultsDir, STOP_FILE), 'stop\n');
        if (opts.durationMs !== undefined)
          durationTimer = setTimeout(() => stop('duration reached'), opts.durationMs);
      },
      onConsoleLine: (line) => {
        if (line.startsWith('[daxmon] ')) print(line);
        else if (line.includes('DAXMON_LAB_DAXMON_EXITED')) print('daxmon lab: daxmon exited in the guest');
        else if (line.includes('DAXMON_JOB_FAILED')) print(line);
      },
    });
    const p = await prometheus;
    return { guest, urls, metricsServed, ...(p ? { prometheus: { url: p.url, scrapedDaxmon } } : {}) };
  } finally {
    if (poller) clearInterval(poller);
    // Never left behind: stopped with the guest, however the lab ended.
    await (await prometheus?.catch(() => undefined))?.stop();
    if (durationTimer) clearTimeout(durationTimer);
    if (hardStop) clearTimeout(hardStop);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
