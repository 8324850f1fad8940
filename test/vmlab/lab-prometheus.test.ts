import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LAB_SCRAPE_JOB,
  labPrometheusConfig,
  livePrometheusCount,
  prometheusCommand,
  startLabPrometheus,
} from '../../lab/src/prometheus.js';
import { DASHBOARDS_DIR } from '../dashboards/paths.js';
import { promtool } from '../dashboards/promtool.js';
import { waitFor } from '../dashboards/prometheus-server.js';
import { startSyntheticExporter } from '../dashboards/synthetic-exporter.js';
import type { Exporter } from '../dashboards/synthetic-exporter.js';

const RULES = join(DASHBOARDS_DIR, 'alerts.yml');
let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'lab-prom-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('the lab Prometheus config', () => {
  it('scrapes the forwarded port as job daxmon with the alert rules, and promtool accepts it', async () => {
    const config = labPrometheusConfig({ target: '127.0.0.1:40123', ruleFiles: [RULES] });
    expect(config).toEqual({
      global: { scrape_interval: '2s', evaluation_interval: '2s' },
      rule_files: [RULES],
      scrape_configs: [{ job_name: 'daxmon', static_configs: [{ targets: ['127.0.0.1:40123'] }] }],
    });
    // The file is written as JSON; Prometheus reads it as YAML.
    const file = join(tmp, 'prometheus.yml');
    await writeFile(file, JSON.stringify(config));
    const r = await promtool(['check', 'config', file], tmp);
    expect(r.output).toContain('SUCCESS');
    expect(r.output).toMatch(/SUCCESS: 21 rules found/);
    expect(r.exitCode).toBe(0);
  });

  it('takes other intervals', () => {
    const c = labPrometheusConfig({
      target: 'h:1',
      ruleFiles: [],
      scrapeInterval: '5s',
      evaluationInterval: '1s',
    });
    expect(c.global).toEqual({ scrape_interval: '5s', evaluation_interval: '1s' });
  });

  it('runs prometheus under a parent-death signal, on loopback, with its data in the given folder', () => {
    expect(
      prometheusCommand({
        binary: '/usr/bin/prometheus',
        configFile: '/t/p.yml',
        dataDir: '/t/data',
        port: 9999,
      }),
    ).toEqual({
      file: 'setpriv',
      args: [
        '--pdeathsig',
        'KILL',
        '--',
        '/usr/bin/prometheus',
        '--config.file=/t/p.yml',
        '--storage.tsdb.path=/t/data',
        '--web.listen-address=127.0.0.1:9999',
        '--storage.tsdb.retention.time=1d',
      ],
    });
  });
});

describe('startLabPrometheus', () => {
  let exporter: Exporter;
  beforeAll(async () => {
    exporter = await startSyntheticExporter();
  });
  afterAll(async () => {
    await exporter?.close();
  });

  it('scrapes a daxmon-shaped target (up == 1) with the rules loaded, and leaves nothing behind', async () => {
    const p = await startLabPrometheus({
      target: exporter.address,
      ruleFiles: [RULES],
      scrapeInterval: '1s',
    });
    let dataDir = '';
    try {
      expect(livePrometheusCount()).toBe(1);
      const flags = await (await fetch(`${p.url}/api/v1/status/flags`)).json();
      dataDir = (flags as { data: Record<string, string> }).data['storage.tsdb.path'] ?? '';
      expect(existsSync(dataDir)).toBe(true);
      await waitFor('up == 1', 20_000, async () => {
        const q = encodeURIComponent(`up{job="${LAB_SCRAPE_JOB}"} == 1`);
        const r = (await (await fetch(`${p.url}/api/v1/query?query=${q}`)).json()) as {
          data: { result: unknown[] };
        };
        return r.data.result.length === 1;
      });
      const rules = (await (await fetch(`${p.url}/api/v1/rules`)).json()) as {
        data: { groups: { rules: unknown[] }[] };
      };
      expect(rules.data.groups.flatMap((g) => g.rules)).toHaveLength(21);
    } finally {
      await p.stop();
    }
    expect(livePrometheusCount()).toBe(0);
    expect(() => process.kill(p.pid, 0)).toThrow();
    expect(existsSync(dataDir)).toBe(false);
    await expect(fetch(`${p.url}/-/ready`)).rejects.toThrow();
    await p.stop(); // idempotent
  }, 40_000);

  it('fails with the output when prometheus cannot start', async () => {
    const bad = join(tmp, 'bad-rules.yml');
    await writeFile(bad, 'groups: [{name: x, rules: [{alert: A, expr: "sum("}]}]\n');
    await expect(startLabPrometheus({ target: 'x:1', ruleFiles: [bad] })).rejects.toMatchObject({
      code: 'DAXMON_E_VM_CONFIG',
      message: expect.stringMatching(/^prometheus exited before it was ready[^]*bad-rules\.yml/),
    });
    expect(livePrometheusCount()).toBe(0);
  }, 40_000);
});
