import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError } from '../../src/errors/log-fields.js';
import { VmError } from './errors.js';
import type { GuestRun } from './guest.js';
import { runGuest } from './guest.js';
import { ensureKernel } from './kernels.js';
import type { UserKernelSource } from './user-kernel.js';
import { ensureUserKernel } from './user-kernel.js';
import type { Logger } from './log.js';
import { defaultLogger } from './log.js';
import { assertCacheOutsideRepo, defaultCacheDir } from './paths.js';
import { ProgressView, probeCount, scanDone } from './progress.js';
import { holdQemuSignals } from './qemu.js';
import { urlLines } from './urls.js';
import type { StopCause, StopEvent, StopState } from './stop.js';
import { INITIAL_STOP, STOP_ANSWER_MS, describeStop, nextStop } from './stop.js';
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
  /** A kernel the user built (user-kernel.ts); wins over `series`. */
  userKernel?: UserKernelSource;
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
  /** Whether /readyz answered 200 (a probe attached) while the lab ran. */
  ready: boolean;
  /** How the lab was stopped (stop.ts); `running` if the guest ended by itself. */
  stop: StopState;
  /** daxmon's exit status in the guest, as the lab job reported it. */
  daxmonExit?: number;
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

/** Console lines of the lab job (besides runGuest's markers); the host reacts to them. */
export const LAB_MARKERS = {
  started: 'DAXMON_LAB_STARTED',
  exited: 'DAXMON_LAB_DAXMON_EXITED',
  stopping: 'DAXMON_LAB_STOPPING',
  killed: 'DAXMON_LAB_DAXMON_KILLED',
  journal: 'DAXMON_LAB_JOURNAL',
  stopped: 'DAXMON_LAB_DAXMON_STOPPED',
} as const;

/** daxmon has this long to shut down after SIGTERM in the guest before it is killed. */
export const DAXMON_STOP_SECONDS = 20;

/**
 * The lab's guest job: daxmon and the workload in the background, daxmon's output on the console,
 * then a wait for the host's stop file (written on the first Ctrl-C; the results share is 9p
 * without caching, so the guest sees it at once). On it daxmon gets SIGTERM and time to shut down
 * (backends, then the journal), and the job exits with daxmon's exit status, which the init script
 * writes to job.rc before it powers the guest off.
 */
export function renderLabJob(
  command: readonly string[],
  workload: boolean | string,
  stopSeconds = DAXMON_STOP_SECONDS,
): string {
  const cmd = command.map((a) => shellQuote(a).split(RESULTS_TOKEN).join(`'"$DAXMON_RESULTS"'`)).join(' ');
  const program = typeof workload === 'string' ? workload : DEMO_WORKLOAD;
  const M = LAB_MARKERS;
  return `cat > /tmp/daxmon/demo.py <<'DAXMON_DEMO'
${program.endsWith('\n') ? program : `${program}\n`}DAXMON_DEMO
${workload !== false ? 'daxmon_bg_start lab-workload python3 /tmp/daxmon/demo.py "$DAXMON_RESULTS"' : ': no demo workload'}
daxmon_bg_start daxmon ${cmd}
tail -q -n +1 -F "$DAXMON_RESULTS/daxmon.out" "$DAXMON_RESULTS/daxmon.err" 2>/dev/null | sed -u 's/^/[daxmon] /' &
echo "${M.started}"
_pid=$(daxmon_bg_pid daxmon)
while [ ! -f "$DAXMON_RESULTS/${STOP_FILE}" ]; do
  if ! kill -0 "$_pid" 2>/dev/null; then echo "${M.exited}"; break; fi
  sleep 1
done
[ -f "$DAXMON_RESULTS/${STOP_FILE}" ] && echo "${M.stopping}"
kill -TERM "$_pid" 2>/dev/null
_end=$(( $(daxmon_now_ms) + ${stopSeconds * 1000} ))
while kill -0 "$_pid" 2>/dev/null && [ "$(daxmon_now_ms)" -lt "$_end" ]; do sleep 0.2; done
if kill -0 "$_pid" 2>/dev/null; then echo "${M.killed}"; kill -KILL "$_pid" 2>/dev/null; fi
wait "$_pid"
_rc=$?
${workload !== false ? 'daxmon_bg_stop lab-workload TERM 5' : ': no demo workload'}
if [ -d "$DAXMON_RESULTS/journal" ]; then
  sync
  echo "${M.journal} $(find "$DAXMON_RESULTS/journal" -type f | wc -l) $(cat "$DAXMON_RESULTS/journal"/* 2>/dev/null | wc -c)"
fi
# tail polls once a second: let daxmon's last lines reach the console first.
sleep 2
echo "${M.stopped} rc=$_rc"
exit $_rc
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

/** The lab's wiring of its output: plain lines to `print`, or a live line on a terminal. */
function makeView(opts: LabOptions): ProgressView {
  if (opts.print) {
    const print = opts.print;
    let partial = '';
    return new ProgressView({
      live: false,
      write: (t) => {
        partial += t;
        const lines = partial.split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) print(l);
      },
    });
  }
  return new ProgressView({ live: process.stdout.isTTY === true, write: (t) => process.stdout.write(t) });
}

/**
 * `daxmon lab`: boots the new-model guest with daxmon and a looping DAX workload inside, forwards
 * daxmon's port to 127.0.0.1, shows its progress and the URLs, and stops cleanly on SIGINT/SIGTERM
 * (stop.ts: the first signal asks the guest to stop daxmon and power off; a second one, or 60 s
 * without an answer, kills qemu).
 */
export async function runLab(opts: LabOptions): Promise<LabResult> {
  const log = opts.log ?? defaultLogger;
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
  const kernel = opts.userKernel
    ? await ensureUserKernel(opts.userKernel, { cacheDir, log })
    : await ensureKernel(opts.series ?? '7', { cacheDir, log });

  const view = makeView(opts);
  const print = (l: string): void => view.line(l);
  const ticker = setInterval(() => view.tick(), 1000);
  const kill = new AbortController();
  let resultsDir: string | undefined;
  let stopState: StopState = INITIAL_STOP;
  let urls = { base: '', metrics: '' };
  let metricsServed = false;
  let ready = false;
  let daxmonExit: number | undefined;
  let poller: NodeJS.Timeout | undefined;
  let durationTimer: NodeJS.Timeout | undefined;
  let hardStop: NodeJS.Timeout | undefined;
  let prometheus: Promise<LabPrometheus | undefined> | undefined;
  let scrapedDaxmon = false;

  const askGuest = (): void => {
    if (!resultsDir) return;
    void writeFile(join(resultsDir, STOP_FILE), 'stop\n').catch(() => kill.abort());
  };
  const onStopEvent = (ev: StopEvent): void => {
    const next = nextStop(stopState, ev);
    if (next.action === 'none') return;
    stopState = next.state;
    const line = describeStop(stopState);
    if (line) print(`daxmon lab: ${line}`);
    if (next.action === 'kill') {
      kill.abort();
      return;
    }
    view.stage('stopping');
    askGuest();
    hardStop = setTimeout(() => onStopEvent({ kind: 'no-answer' }), STOP_ANSWER_MS);
  };
  const request = (cause: StopCause): void =>
    onStopEvent({ kind: 'request', cause, atMs: Date.now(), guestUp: resultsDir !== undefined });
  const onSignal = (sig: NodeJS.Signals): void => request(sig as StopCause);
  // qemu.ts kills every qemu on a signal unless someone holds the signals: the lab does, so that
  // the first Ctrl-C reaches daxmon in the guest; process exit still kills qemu.
  let releaseSignals: (() => void) | undefined;
  if (opts.handleSignals ?? true) {
    releaseSignals = holdQemuSignals();
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('SIGHUP', onSignal);
  }
  opts.signal?.addEventListener('abort', () => request('aborted'), { once: true });

  const watchDaxmon = (): void => {
    let busy = false;
    poller = setInterval(() => {
      if (busy || stopState.phase !== 'running') return;
      busy = true;
      void (async () => {
        if (!ready) {
          const st = await getJson(`${urls.base}api/state`);
          if (st !== undefined) {
            view.stage('daxmon-serving');
            const n = probeCount(st);
            if (n) view.probes(n);
          }
          if ((await getText(`${urls.base}readyz`))?.status === 200 && !ready) {
            ready = true;
            view.stage('ready');
            printUrls('ready');
          }
        }
        if (!metricsServed || !view.progress.scanned) {
          const m = await getText(urls.metrics);
          if (m?.status === 200) {
            if (!metricsServed) {
              metricsServed = true;
              view.stage('daxmon-serving');
            }
            if (scanDone(m.body)) view.scanned();
          }
        } else if (!scrapedDaxmon) {
          const p = await prometheus;
          if (p && (await prometheusSeesDaxmon(p.url))) {
            scrapedDaxmon = true;
            print(`daxmon lab: Prometheus scrapes daxmon (up == 1)`);
          }
        }
      })().finally(() => (busy = false));
    }, 2000);
  };

  let consoleGlob = '';
  let promUrl: string | undefined;
  const printUrls = (what: 'up' | 'ready'): void => {
    print(
      what === 'up'
        ? `daxmon lab: guest ${kernel.release} is up; daxmon is starting (a minute or more under emulation)`
        : `daxmon lab: ready: daxmon answers /readyz`,
    );
    for (const l of urlLines(urls, promUrl, consoleGlob)) print(l);
  };

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
      onStage: ({ stage, attempt }) => {
        if (attempt > 1 && stage === 'kernel')
          print(`daxmon lab: boot attempt ${attempt} (the last one failed)`);
        if (stage === 'kernel' || stage === 'initramfs' || stage === 'guest-up' || stage === 'pmem-ready')
          view.stage(stage);
      },
      onReady: ({ hostPorts, runDir }) => {
        resultsDir = join(runDir, 'results');
        const port = hostPorts[guestPort];
        urls = { base: `http://127.0.0.1:${port}/`, metrics: `http://127.0.0.1:${port}/metrics` };
        consoleGlob = join(runDir, 'console-*.log');
        printUrls('up');
        const results = resultsDir;
        prometheus = prometheusBinary
          ? startLabPrometheus({
              binary: prometheusBinary,
              target: `127.0.0.1:${port}`,
              ruleFiles: existsSync(rulesFile) ? [rulesFile] : [],
              ...(opts.scrapeInterval ? { scrapeInterval: opts.scrapeInterval } : {}),
            }).then(
              (p) => {
                promUrl = p.url;
                print(`  prometheus: ${p.url}/ (scrapes daxmon, alerts from dashboards/alerts.yml)`);
                print(`  alerts:     ${p.url}/alerts`);
                return p;
              },
              (err: unknown) => {
                print(`daxmon lab: Prometheus did not start: ${describeError(err)}`);
                return undefined;
              },
            )
          : Promise.resolve(undefined);
        void prometheus.then((p) => {
          if (stopState.phase === 'running')
            opts.onStarted?.({ urls, resultsDir: results, ...(p ? { prometheusUrl: p.url } : {}) });
        });
        watchDaxmon();
        if (opts.durationMs !== undefined)
          durationTimer = setTimeout(() => request('duration'), opts.durationMs);
      },
      onConsoleLine: (line) => {
        if (line.startsWith('[daxmon] ')) print(line);
        else if (line.includes(LAB_MARKERS.started)) view.stage('daxmon-starting');
        else if (line.includes(LAB_MARKERS.exited)) print('daxmon lab: daxmon exited by itself in the guest');
        else if (line.includes(LAB_MARKERS.stopping)) print('daxmon lab: the guest sent daxmon SIGTERM');
        else if (line.includes(LAB_MARKERS.killed))
          print(`daxmon lab: daxmon did not stop within ${DAXMON_STOP_SECONDS} s of SIGTERM: killed`);
        else if (line.includes(LAB_MARKERS.journal)) {
          const [files = '?', bytes = '?'] = line
            .slice(line.indexOf(LAB_MARKERS.journal))
            .split(/\s+/)
            .slice(1);
          print(
            `daxmon lab: journal closed and synced: ${files} file(s), ${bytes} bytes in ${resultsDir}/journal`,
          );
        } else if (line.includes(LAB_MARKERS.stopped)) {
          const rc = Number.parseInt(/rc=(-?\d+)/.exec(line)?.[1] ?? '', 10);
          if (Number.isFinite(rc)) daxmonExit = rc;
          print(`daxmon lab: daxmon exited with status ${daxmonExit ?? '?'}; powering the guest off`);
        } else if (line.includes('DAXMON_JOB_FAILED')) print(line);
      },
    });
    const p = await prometheus;
    const result: LabResult = {
      guest,
      urls,
      metricsServed,
      ready,
      stop: stopState,
      ...(daxmonExit !== undefined ? { daxmonExit } : {}),
      ...(p ? { prometheus: { url: p.url, scrapedDaxmon } } : {}),
    };
    print(`daxmon lab: ${labOutcome(result).summary}`);
    return result;
  } finally {
    clearInterval(ticker);
    view.close();
    if (poller) clearInterval(poller);
    // Never left behind: stopped with the guest, however the lab ended.
    await (await prometheus?.catch(() => undefined))?.stop();
    if (durationTimer) clearTimeout(durationTimer);
    if (hardStop) clearTimeout(hardStop);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    releaseSignals?.();
  }
}

async function getText(url: string): Promise<{ status: number; body: string } | undefined> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
    return { status: r.status, body: await r.text() };
  } catch {
    return undefined;
  }
}

async function getJson(url: string): Promise<unknown> {
  const r = await getText(url);
  if (r?.status !== 200) return undefined;
  try {
    return JSON.parse(r.body) as unknown;
  } catch {
    return undefined;
  }
}

export interface LabOutcome {
  /** `daxmon lab`'s exit status: 0 clean, 1 something failed, 130 forced (qemu killed). */
  exitStatus: number;
  summary: string;
}

/**
 * What the lab's end says. 0 only when daxmon served, was stopped by request, exited 0 (its clean
 * shutdown: backends, journal) and the guest powered itself off.
 */
export function labOutcome(
  r: Pick<LabResult, 'metricsServed' | 'stop' | 'daxmonExit'> & {
    guest: Pick<GuestRun, 'status' | 'jobExitCode' | 'poweredOff'>;
  },
): LabOutcome {
  if (r.stop.phase === 'forced') {
    return { exitStatus: 130, summary: `forced: ${describeStop(r.stop) ?? 'qemu killed'} (exit 130)` };
  }
  const problems: string[] = [];
  if (r.guest.status === 'panic') problems.push('the guest kernel panicked');
  else if (r.guest.status === 'timeout') problems.push('the guest ran past its timeout and was killed');
  else if (r.guest.status !== 'done')
    problems.push(`the guest ended without finishing its job (${r.guest.status})`);
  else if (r.guest.jobExitCode !== 0)
    problems.push(`the guest job failed: daxmon exited with status ${r.daxmonExit ?? r.guest.jobExitCode}`);
  if (r.stop.phase === 'running' && r.guest.status === 'done')
    problems.push('daxmon exited before it was asked to');
  if (!r.metricsServed) problems.push('daxmon never answered /metrics');
  if (r.guest.status === 'done' && !r.guest.poweredOff)
    problems.push('the guest did not power off by itself');
  if (problems.length > 0) return { exitStatus: 1, summary: `failed: ${problems.join('; ')} (exit 1)` };
  return {
    exitStatus: 0,
    summary: 'stopped cleanly: daxmon shut down and closed its journal, the guest powered off (exit 0)',
  };
}
