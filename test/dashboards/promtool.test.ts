import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALERT_RULES } from '../../dashboards/src/alerts/rules.js';
import { QUERIES, expandVariables } from '../../dashboards/src/queries.js';
import { toYaml } from '../../dashboards/src/yaml.js';
import { DASHBOARDS_DIR } from './paths.js';
import { PROMTOOL_MISSING, promtool } from './promtool.js';

let tmp = '';
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'daxmon-promtool-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** One recording rule per expression: `promtool check rules` then parses every one of them. */
async function checkExpressions(exprs: readonly string[]): Promise<{ exitCode: number; output: string }> {
  const file = path.join(tmp, `exprs-${exprs.length}-${Date.now()}.yml`);
  const rules = exprs.map((expr, i) => ({ record: `daxmon_panel:q${i}`, expr }));
  await writeFile(file, toYaml({ groups: [{ name: 'daxmon-panel-queries', rules }] }));
  return promtool(['check', 'rules', file], tmp);
}

describe('promtool', () => {
  it('fails with what to install when promtool is missing, rather than skipping', async () => {
    await expect(promtool(['--version'], tmp, 'promtool-not-installed-here')).rejects.toThrow(
      PROMTOOL_MISSING,
    );
  });

  it('check rules accepts alerts.yml with every lint on and fatal', async () => {
    const r = await promtool(['check', 'rules', '--lint=all', '--lint-fatal', 'alerts.yml'], DASHBOARDS_DIR);
    expect(r.output).toContain(`SUCCESS: ${ALERT_RULES.length} rules found`);
    expect(r.exitCode, r.output).toBe(0);
  });

  it('test rules passes every unit test in alerts.test.yml', async () => {
    const r = await promtool(['test', 'rules', 'alerts.test.yml'], DASHBOARDS_DIR);
    expect(r.exitCode, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });

  it('every panel expression parses once Grafana variables are substituted', async () => {
    const exprs = QUERIES.filter((q) => q.source === 'panel').map((q) => expandVariables(q.expr));
    const r = await checkExpressions(exprs);
    expect(r.exitCode, r.output).toBe(0);
    expect(r.output).toContain(`SUCCESS: ${exprs.length} rules found`);
  });

  it('the expression check does catch a malformed expression', async () => {
    const r = await checkExpressions(['sum(rate(daxmon_events_total[1m])']);
    expect(r.exitCode).not.toBe(0);
  });

  it('check config accepts the example Prometheus configuration with the rules', async () => {
    const r = await promtool(['check', 'config', 'prometheus/prometheus.example.yml'], DASHBOARDS_DIR);
    expect(r.exitCode, r.output).toBe(0);
  });
});
