/**
 * The lab's Prometheus: Debian's `prometheus` binary on the host, scraping daxmon through the
 * guest's forwarded port with daxmon's alert rules loaded, its TSDB in a temporary folder that is
 * removed when it stops. The config and argv are pure functions so they can be tested without the
 * binary; only `startLabPrometheus` touches processes and files.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { VmError } from './errors.js';
import { freePort } from './ports.js';
import { findTool } from './tools.js';

/** The scrape job name daxmon's alert rules and dashboards expect (`up{job="daxmon"}`). */
export const LAB_SCRAPE_JOB = 'daxmon';

export interface LabPrometheusConfig {
  /** daxmon's host:port as the host sees it (the forwarded port). */
  target: string;
  /** Alert rule files to load (absolute paths), normally `<repo>/dashboards/alerts.yml`. */
  ruleFiles: readonly string[];
  /** Default 2s: a lab is watched live, and the emulated guest's daxmon answers a scrape in ~50 ms. */
  scrapeInterval?: string;
  /** Default: the scrape interval, so alerts follow the data without a lag of their own. */
  evaluationInterval?: string;
}

/**
 * prometheus.yml as a plain object. Written as JSON, which YAML parsers (and Prometheus's) accept,
 * so the lab needs no YAML writer.
 */
export function labPrometheusConfig(c: LabPrometheusConfig): Record<string, unknown> {
  const scrape = c.scrapeInterval ?? '2s';
  return {
    global: { scrape_interval: scrape, evaluation_interval: c.evaluationInterval ?? scrape },
    rule_files: [...c.ruleFiles],
    scrape_configs: [
      {
        job_name: LAB_SCRAPE_JOB,
        // instance stays the forwarded host:port: the alerts' runbooks build daxmon API URLs from it.
        static_configs: [{ targets: [c.target] }],
      },
    ],
  };
}

export interface PrometheusCommand {
  file: string;
  args: string[];
}

/**
 * The command line: under `setpriv --pdeathsig KILL`, like qemu, so that even a SIGKILL of the Node
 * process takes Prometheus with it; listening on loopback only.
 */
export function prometheusCommand(o: {
  binary: string;
  configFile: string;
  dataDir: string;
  port: number;
}): PrometheusCommand {
  return {
    file: 'setpriv',
    args: [
      '--pdeathsig',
      'KILL',
      '--',
      o.binary,
      `--config.file=${o.configFile}`,
      `--storage.tsdb.path=${o.dataDir}`,
      `--web.listen-address=127.0.0.1:${o.port}`,
      // A lab's data is worth nothing after the lab: keep the head block small.
      '--storage.tsdb.retention.time=1d',
    ],
  };
}

export interface LabPrometheus {
  url: string;
  pid: number;
  /** Stops Prometheus (SIGTERM, SIGKILL after 10 s) and removes its folder. Idempotent. */
  stop(): Promise<void>;
}

/** Where `prometheus` is, or undefined when it is not installed. */
export function findPrometheus(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  return findTool('prometheus', env);
}

const live = new Set<number>();

function killLive(): void {
  for (const pid of live) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Prometheus processes this process started and has not seen exit (for tests). */
export function livePrometheusCount(): number {
  return live.size;
}

export async function startLabPrometheus(
  c: LabPrometheusConfig & { binary?: string; readyTimeoutMs?: number },
): Promise<LabPrometheus> {
  const binary = c.binary ?? (await findPrometheus());
  if (!binary) {
    throw new VmError(
      'DAXMON_E_VM_TOOL_MISSING',
      'prometheus is not installed: apt-get install prometheus (or run the lab with --no-prometheus)',
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'daxmon-lab-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  await writeFile(configFile, `${JSON.stringify(labPrometheusConfig(c), null, 2)}\n`);
  const port = await freePort();
  const cmd = prometheusCommand({ binary, configFile, dataDir: join(dir, 'data'), port });
  const child = execa(cmd.file, cmd.args, { reject: false, stdin: 'ignore', all: true, buffer: true });
  const pid = child.pid;
  if (pid === undefined) throw new VmError('DAXMON_E_VM_CONFIG', 'prometheus did not start');
  live.add(pid);
  if (live.size === 1) process.on('exit', killLive);
  let done = false;
  const exited = child.then((r) => {
    done = true;
    live.delete(pid);
    if (live.size === 0) process.off('exit', killLive);
    return r;
  });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (!done) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (c.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (done) {
      const r = await exited;
      await stop();
      throw new VmError(
        'DAXMON_E_VM_CONFIG',
        `prometheus exited before it was ready (${String(r.exitCode ?? r.signal)}):\n${String(r.all ?? '').slice(-4000)}`,
      );
    }
    const ok = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) })
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new VmError('DAXMON_E_VM_TIMEOUT', `prometheus was not ready at ${url} within the timeout`);
    }
    await sleep(250);
  }
  return { url, pid, stop };
}
