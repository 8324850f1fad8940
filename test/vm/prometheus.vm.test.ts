import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import {
  activeAlerts,
  evaluateAll,
  evaluateQuery,
  evaluateVariables,
  pendingFamilies,
  ruleHealth,
} from '../../dashboards/src/live/evaluate.js';
import { promApi, seriesOf } from '../../dashboards/src/live/prom-api.js';
import type { PromApi } from '../../dashboards/src/live/prom-api.js';
import { snapshotDashboard } from '../../dashboards/src/live/snapshot.js';
import { QUERIES } from '../../dashboards/src/queries.js';
import { defaultCacheDir, livePrometheusCount, liveQemuCount, runLab } from '../../lab/src/index.js';
import type { LabStarted } from '../../lab/src/index.js';
import { alertKey, reportMarkdown } from './e2e-report.js';
import type { E2eReport } from './e2e-report.js';
import { REPO_DIR } from './matrix.js';

// The dashboards and alerts end to end: daxmon (libbpf backend, picked by --backend auto) in the 7.x
// guest with short busy-wait thresholds, a truncate held waiting on a DAX page pinned by vmsplice
// into an undrained pipe (file still mapped), and the lab's real Prometheus on the host scraping
// daxmon every 5 s through the forwarded port with dashboards/alerts.yml as shipped (no shortened
// copy: the pin is held until DaxmonBusyPageWaitStuck's 60 s threshold has passed and it fires).
// Then every panel, variable and alert query runs against that Prometheus. One boot, ~4 min.
// DAXMON_VM_E2E=0 skips it.
// A busy host makes the emulated guest miss scrapes, and a failed scrape marks every series stale,
// so an instant query "now" can find nothing right after one. The queries are therefore evaluated
// at the time of the last successful scrape, and the final pass waits (bounded) until every core
// panel has data there; how many scrapes failed is in the report.
// It boots the 7.x kernel, so a DAXMON_VM_KERNELS without 7 leaves it out too.
const kernels = process.env.DAXMON_VM_KERNELS?.split(',').map((k) => k.trim());
const enabled =
  process.env.DAXMON_VM_E2E !== '0' &&
  (kernels === undefined || kernels.includes('7')) &&
  existsSync(join(REPO_DIR, 'dist', 'cli.js'));

const WARN_S = 3;
const STUCK_S = 8;
/** Range-query step. */
const STEP_S = 2;
/**
 * Scrape (and rule evaluation) interval. Its timeout is the same (Prometheus's default: 10 s, capped
 * at the interval). A quiet guest answers in ~50 ms, but on a loaded 2-core host 2 s timed out
 * (issue 12) and so did 112 of 127 scrapes at 5 s while the workload's rounds ran.
 */
const SCRAPE = '10s';
/** Successful scrapes after the truncate finished before the last pass, so rates see the drain. */
const SCRAPES_AFTER = 3;
/** Core panels whose families the daemon exports: they must have data. */
const CORE = QUERIES.filter((q) => q.core && pendingFamilies(q.expr).length === 0);
/** Alerts the workload must fire: the stuck wait itself, and daxmon's busy_wait_stuck violations. */
const MUST_FIRE = [
  'DaxmonBusyPageWaitStuck',
  'DaxmonViolation{kind=busy_wait_stuck,severity=warning}',
  'DaxmonViolation{kind=busy_wait_stuck,severity=critical}',
];

/** Polls `check` every second until it holds (true) or `ms` have passed (false). */
async function poll(ms: number, check: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) return false;
    await sleep(1000);
  }
  return true;
}

async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  if (!(await poll(ms, check))) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

interface Scrapes {
  /** Unix seconds of each successful scrape of daxmon since `since`. */
  okAt: number[];
  failed: number;
}

/** The lab's scrapes of daxmon since `since`, from the raw samples of `up`. */
async function scrapesSince(api: PromApi, since: number): Promise<Scrapes> {
  const now = Date.now() / 1000;
  const r = await api.query(`up{job="daxmon"}[${Math.ceil(now - since) + 1}s]`, now);
  const values = seriesOf(r).flatMap((x) => x.values ?? []);
  return {
    okAt: values.filter(([, v]) => v === '1').map(([t]) => t),
    failed: values.filter(([, v]) => v !== '1').length,
  };
}

async function workloadLog(resultsDir: string): Promise<{ msg: string; [k: string]: unknown }[]> {
  const text = await readFile(join(resultsDir, 'lab-workload.out'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg: string });
}

async function drive(info: LabStarted, report: E2eReport): Promise<void> {
  if (!info.prometheusUrl) throw new Error('the lab started no Prometheus');
  const api: PromApi = promApi(info.prometheusUrl);
  const t0 = Date.now() / 1000;
  const mark = (what: string): void => {
    report.timeline.push({ t: Math.round(Date.now() / 1000 - t0), what });
  };
  const trackAlerts = async (): Promise<void> => {
    const now = Math.round(Date.now() / 1000 - t0);
    for (const a of await activeAlerts(api)) {
      const e = (report.alerts[alertKey(a)] ??= { labels: a.labels });
      if (a.state === 'pending') e.pendingAt ??= now;
      if (a.state === 'firing' && e.firingAt === undefined) {
        e.firingAt = now;
        e.valueWhenFiring = a.value;
        e.pendingAt ??= now;
      }
    }
  };
  mark('guest up, lab Prometheus ready');
  // daxmon's start (node, kernel facts, loading the BPF programs) took 46-104 s under emulation,
  // and over 6 min on a host loaded with a CPU hog and unit tests.
  await until('Prometheus to scrape daxmon (up == 1)', 600_000, async () => {
    const r = await api.query('up{job="daxmon"} == 1');
    return (r.data?.result.length ?? 0) > 0;
  });
  mark('up == 1');
  const up = await api.query('daxmon_backend_up == 1');
  report.backends =
    (up.data?.result as { metric: { backend?: string } }[] | undefined)?.map((x) => x.metric.backend ?? '') ??
    [];
  await until('the truncate to wait on the pinned page', 300_000, async () =>
    (await workloadLog(info.resultsDir)).some((l) => l.msg === 'truncate started'),
  );
  mark('truncate waiting on the pinned page');
  await until(`alerts ${MUST_FIRE.join(', ')} firing`, 300_000, async () => {
    await trackAlerts();
    return MUST_FIRE.every((k) => report.alerts[k]?.firingAt !== undefined);
  });
  mark('alerts firing');
  const vars = (end: number) => ({ rateInterval: '1m', range: `${Math.ceil(end - t0) + 60}s` });
  // Evaluated at the last successful scrape: after a missed one, "now" has only stale series.
  const lastOk = async (): Promise<number> => {
    const sc = await scrapesSince(api, t0);
    return sc.okAt.at(-1) ?? Date.now() / 1000;
  };
  let end = await lastOk();
  report.evaluatedAt = { during: Math.round(end - t0) };
  report.during = await evaluateAll(api, { start: t0, end, stepSeconds: STEP_S }, vars(end));
  report.overviewDuring = await snapshotDashboard(
    api,
    'daxmon-overview',
    { start: t0, end, stepSeconds: STEP_S },
    vars(end),
  );
  await writeFile(join(info.resultsDir, 'e2e-release'), 'release\n');
  mark('pin released');
  await until('the truncate to finish', 120_000, async () => {
    await trackAlerts();
    return (await workloadLog(info.resultsDir)).some((l) => l.msg === 'released');
  });
  mark('truncate finished');
  const finishedAt = Date.now() / 1000;
  // A few successful scrapes, so the finished wait is in the histogram and rates see the drain;
  // then until every core panel has data at the last of them (bounded: the assertions say which
  // have none).
  const settled = await poll(300_000, async () => {
    await trackAlerts();
    const sc = await scrapesSince(api, t0);
    if (sc.okAt.filter((t) => t > finishedAt).length < SCRAPES_AFTER) return false;
    end = sc.okAt.at(-1) ?? end;
    const w = { start: t0, end, stepSeconds: STEP_S };
    for (const q of CORE) if ((await evaluateQuery(api, q, w, vars(end))).series === 0) return false;
    return true;
  });
  mark(settled ? 'every core panel has data' : 'gave up waiting for data in every core panel');
  const sc = await scrapesSince(api, t0);
  const median = seriesOf(
    await api.query(
      `quantile_over_time(0.5, scrape_duration_seconds{job="daxmon"}[${Math.ceil(Date.now() / 1000 - t0) + 1}s])`,
    ),
  );
  const slowest = seriesOf(
    await api.query(
      `max_over_time(scrape_duration_seconds{job="daxmon"}[${Math.ceil(Date.now() / 1000 - t0) + 1}s])`,
    ),
  );
  report.scrapes = {
    ok: sc.okAt.length,
    failed: sc.failed,
    okAfterRelease: sc.okAt.filter((t) => t > finishedAt).length,
    interval: SCRAPE,
    ...(median[0]?.value ? { medianSeconds: Number(median[0].value[1]) } : {}),
    ...(slowest[0]?.value ? { slowestSeconds: Number(slowest[0].value[1]) } : {}),
  };
  report.evaluatedAt.after = Math.round(end - t0);
  const w = { start: t0, end, stepSeconds: STEP_S };
  report.after = await evaluateAll(api, w, vars(end));
  report.variables = await evaluateVariables(api, vars(end));
  report.rules = await ruleHealth(api);
  report.overview = await snapshotDashboard(api, 'daxmon-overview', w, vars(end));
  mark('queries done');
  report.workload = await workloadLog(info.resultsDir);
}

describe.skipIf(!enabled)('dashboards and alerts against daxmon in the 7.x guest', () => {
  it(
    'every query parses, core panels have data, and the stuck-wait alerts fire',
    async () => {
      const lines: string[] = [];
      const report: E2eReport = {
        backends: [],
        timeline: [],
        workload: [],
        alerts: {},
        during: [],
        after: [],
        variables: [],
        rules: [],
      };
      const stop = new AbortController();
      let driven: Promise<void> | undefined;
      let resultsDir = '';
      const r = await runLab({
        repoDir: REPO_DIR,
        command: [
          process.execPath,
          join(REPO_DIR, 'dist', 'cli.js'),
          'run',
          '--listen',
          '0.0.0.0:9464',
          '--backend',
          'auto',
          '--journal-dir',
          '@RESULTS@/journal',
          '--busy-wait-warn-seconds',
          String(WARN_S),
          '--busy-wait-stuck-seconds',
          String(STUCK_S),
        ],
        workload: await readFile(join(REPO_DIR, 'test', 'vm', 'workloads', 'pin-hold.py'), 'utf8'),
        prometheus: true,
        scrapeInterval: SCRAPE,
        handleSignals: false,
        signal: stop.signal,
        // A safety net: the test stops the lab itself once the queries are done.
        durationMs: 30 * 60_000,
        print: (l) => lines.push(l),
        onStarted: (info) => {
          resultsDir = info.resultsDir;
          driven = drive(info, report).finally(() => stop.abort());
        },
      });
      report.kernel = r.guest.kernelRelease;
      report.guest = {
        ...(r.guest.bootSeconds !== undefined ? { bootSeconds: r.guest.bootSeconds } : {}),
        ...(r.guest.jobSeconds !== undefined ? { jobSeconds: r.guest.jobSeconds } : {}),
        totalSeconds: r.guest.totalSeconds,
        retries: r.guest.retries,
      };
      const failure = await driven?.then(
        () => undefined,
        (err: unknown) => err,
      );
      const reportFile = join(
        defaultCacheDir(),
        'reports',
        `prometheus-e2e-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
      );
      await mkdir(join(defaultCacheDir(), 'reports'), { recursive: true });
      await writeFile(reportFile, `${JSON.stringify(report, null, 2)}\n`);
      await writeFile(reportFile.replace(/\.json$/, '.md'), reportMarkdown(report));
      if (resultsDir) await writeFile(join(resultsDir, 'prometheus-e2e.json'), JSON.stringify(report));
      const context = `report: ${reportFile}\nconsole: ${r.guest.consoleLog}\n${lines.slice(-40).join('\n')}`;
      expect(failure, context).toBeUndefined();
      expect(driven, 'the lab never started').toBeDefined();
      const at = (t: number | undefined): string =>
        `evaluated ${t ?? '?'} s after Prometheus was ready (its last successful scrape; ` +
        `${report.scrapes?.failed ?? '?'} of ${(report.scrapes?.ok ?? 0) + (report.scrapes?.failed ?? 0)} scrapes failed); report: ${reportFile}`;

      // --backend auto picked libbpf on 7.x.
      expect(report.backends, context).toEqual(['libbpf']);

      for (const [name, pass, t] of [
        ['while the truncate waited', report.during, report.evaluatedAt?.during],
        ['after the release', report.after, report.evaluatedAt?.after],
      ] as const) {
        expect(pass.length, `${name}: no queries ran; report: ${reportFile}`).toBeGreaterThan(0);
        expect(
          pass.filter((q) => !q.ok).map((q) => `${q.id}: ${q.error ?? ''}`),
          `queries that failed ${name}, ${at(t)}`,
        ).toEqual([]);
      }
      // The last pass saw the release: scrapes succeeded after the truncate finished.
      expect(
        report.scrapes?.okAfterRelease,
        `successful scrapes after the truncate finished (before the last pass), ${at(report.evaluatedAt?.after)}`,
      ).toBeGreaterThanOrEqual(SCRAPES_AFTER);
      // Core panels have data, but those reading families the daemon does not export yet.
      expect(
        report.after.filter((q) => CORE.some((c) => c.id === q.id) && q.series === 0).map((q) => q.id),
        `core panels with no data after the release, ${at(report.evaluatedAt?.after)}`,
      ).toEqual([]);
      expect(
        report.variables.filter((v) => !v.ok || v.values.length === 0).map((v) => v.id),
        `template variables without values; report: ${reportFile}`,
      ).toEqual([]);
      expect(
        report.rules.filter((x) => x.health !== 'ok' || !x.evaluated).map((x) => x.alert),
        `rules unhealthy or never evaluated; report: ${reportFile}`,
      ).toEqual([]);
      for (const k of MUST_FIRE)
        expect(report.alerts[k]?.firingAt, `${k} never fired; report: ${reportFile}`).toBeDefined();
      // daxmon stayed up: DaxmonDown's `for: 2m` absorbs a missed scrape, which a busy host causes.
      expect(report.alerts.DaxmonDown?.firingAt, `DaxmonDown fired; report: ${reportFile}`).toBeUndefined();

      expect(r.guest.status).toBe('done');
      expect(r.prometheus?.scrapedDaxmon).toBe(true);
      expect(liveQemuCount()).toBe(0);
      expect(livePrometheusCount()).toBe(0);
    },
    35 * 60_000,
  );
});
