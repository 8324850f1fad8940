/**
 * Runs Debian's prometheus binary on loopback for a test: a throw-away TSDB in a temp directory, a
 * free port, and a small client for the HTTP API. Like promtool, a missing binary is a failure with
 * what to install, never a skip.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import type { ResultPromise } from 'execa';
import { toYaml } from '../../dashboards/src/yaml.js';
import type { YamlValue } from '../../dashboards/src/yaml.js';

export const PROMETHEUS_MISSING =
  'prometheus not found on PATH. Install Debian\'s "prometheus" package (it is in scripts/apt-packages.txt).';

export interface QueryResult {
  readonly status: string;
  readonly error?: string;
  readonly data?: { readonly resultType: string; readonly result: readonly unknown[] };
}

export interface PrometheusServer {
  readonly url: string;
  query(expr: string): Promise<QueryResult>;
  api<T>(pathAndQuery: string): Promise<T>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** Polls `check` every 250 ms until it returns true, or throws after `ms` or once `signal` aborts. */
export async function waitFor(
  what: string,
  ms: number,
  check: () => Promise<boolean>,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (signal?.aborted) throw new Error(`gave up waiting for ${what}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(250);
  }
}

export async function startPrometheus(config: YamlValue): Promise<PrometheusServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'daxmon-prometheus-'));
  const configFile = path.join(dir, 'prometheus.yml');
  await writeFile(configFile, toYaml(config));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ResultPromise = execa(
    'prometheus',
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { reject: false, all: true, buffer: true },
  );
  const exited = child.then((r) => r);

  const stop = async (): Promise<void> => {
    child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };

  const giveUp = new AbortController();
  const ready = waitFor(
    'prometheus to become ready',
    20_000,
    async () => (await fetch(`${url}/-/ready`)).ok,
    giveUp.signal,
  );
  let outcome: Awaited<typeof exited> | null;
  try {
    outcome = await Promise.race([ready.then(() => null), exited]);
  } catch (err) {
    await stop();
    throw err;
  }
  if (outcome !== null) {
    giveUp.abort();
    await ready.catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    if ('code' in outcome && outcome.code === 'ENOENT') throw new Error(PROMETHEUS_MISSING);
    throw new Error(`prometheus exited early (${String(outcome.exitCode)}):\n${String(outcome.all ?? '')}`);
  }

  const api = async <T>(pathAndQuery: string): Promise<T> =>
    (await (await fetch(`${url}${pathAndQuery}`)).json()) as T;
  return {
    url,
    api,
    query: (expr) => api<QueryResult>(`/api/v1/query?query=${encodeURIComponent(expr)}`),
    stop,
  };
}
