import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../dashboards/prometheus-server.js';
import type { KernelBuild } from '../../lab/src/index.js';
import {
  ensureKernel,
  holdQemuSignals,
  qemuSignalsHeld,
  livePrometheusCount,
  liveQemuCount,
  runGuest,
  runLab,
  silentLogger,
} from '../../lab/src/index.js';

// runGuest and the kernel cache against stand-ins for qemu, apt-get, apt-cache, dpkg and depmod
// (test/vmlab/fakes): the retry, timeout and cleanup logic runs for real, only the guest is fake.
const FAKES = join(dirname(fileURLToPath(import.meta.url)), 'fakes');
// The checkout: runLab reads dashboards/alerts.yml (and dist/cli.js, unless given a command) from it.
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ORIGINAL_PATH = process.env.PATH;
let tmp: string;
let kernel: KernelBuild;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function fakePid(): Promise<number> {
  return Number.parseInt(await readFile(join(tmp, 'state.pid'), 'utf8'), 10);
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'vmlab-'));
  const modules = join(tmp, 'k', 'lib', 'modules', '7.0.0-fake');
  await mkdir(join(modules, 'kernel', 'fs', '9p'), { recursive: true });
  await writeFile(join(modules, 'kernel', 'fs', '9p', '9p.ko'), 'not really a module');
  await writeFile(join(modules, 'modules.dep'), 'kernel/fs/9p/9p.ko:\n');
  await writeFile(join(tmp, 'k', 'vmlinuz'), 'not really a kernel');
  kernel = {
    series: '7',
    model: 'new',
    release: '7.0.0-fake',
    packageVersion: '7.0.0-1',
    vmlinuz: join(tmp, 'k', 'vmlinuz'),
    modulesDir: modules,
    root: join(tmp, 'k'),
  };
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

beforeEach(async () => {
  process.env.PATH = `${FAKES}:${ORIGINAL_PATH}`;
  process.env.FAKE_QEMU_STATE = join(tmp, 'state');
  process.env.FAKE_APT_LOG = join(tmp, 'apt.log');
  await rm(join(tmp, 'state'), { force: true });
});

afterEach(() => {
  process.env.PATH = ORIGINAL_PATH;
  delete process.env.FAKE_QEMU_MODE;
  delete process.env.DAXMON_VM_OFFLINE;
  expect(liveQemuCount()).toBe(0);
});

const base = () => ({
  kernel,
  pmem: 'memmap' as const,
  fs: 'ext4' as const,
  job: 'true',
  cacheDir: join(tmp, 'cache'),
  log: silentLogger,
  bootTimeoutMs: 1500,
  jobTimeoutMs: 1500,
  maxBootAttempts: 3,
});

describe('runGuest', () => {
  it('boots, runs the job and reports boot time, job time and the console', async () => {
    process.env.FAKE_QEMU_MODE = 'done';
    const r = await runGuest(base());
    expect(r.status).toBe('done');
    expect(r.jobExitCode).toBe(0);
    expect(r.retries).toBe(0);
    expect(r.guestBootSeconds).toBe(3.5);
    expect(r.bootSeconds).toBeGreaterThan(0);
    expect(await readFile(r.consoleLog, 'utf8')).toContain('hello from the job');
    expect(await readFile(join(r.resultsDir, 'job.sh'), 'utf8')).toContain('mkfs.ext4');
    const args = await readFile(join(tmp, 'state.args'), 'utf8');
    expect(args).toContain('memmap=1G!5G');
    expect(args).toContain('mount_tag=hostroot');
  });

  it('retries a boot that oopses or panics before the ready marker and counts the retry', async () => {
    process.env.FAKE_QEMU_MODE = 'panic-once';
    const r = await runGuest(base());
    expect(r.status).toBe('done');
    expect(r.retries).toBe(1);
    expect(r.attempts.map((a) => a.outcome)).toEqual(['panic', 'ready']);
  });

  it('kills a boot that never becomes ready, retries it, then gives up with what to do', async () => {
    process.env.FAKE_QEMU_MODE = 'hang';
    await expect(runGuest({ ...base(), maxBootAttempts: 2 })).rejects.toMatchObject({
      code: 'DAXMON_E_VM_BOOT',
      message: expect.stringMatching(
        /^no boot reached the ready marker in 2 attempt\(s\) \(boot-timeout, boot-timeout\).*DAXMON_VM_BOOT_TIMEOUT_MS/,
      ),
    });
    expect(alive(await fakePid())).toBe(false);
  });

  it('gives up at once when the guest init says it cannot go on', async () => {
    process.env.FAKE_QEMU_MODE = 'boot-failed';
    await expect(runGuest(base())).rejects.toThrow(/the guest init gave up: cannot mount the host root/);
    expect(alive(await fakePid())).toBe(false);
  });

  it('treats a qemu that exits before ready as a failed boot', async () => {
    process.env.FAKE_QEMU_MODE = 'exit-early';
    await expect(runGuest({ ...base(), maxBootAttempts: 2 })).rejects.toThrow(/exited-early, exited-early/);
  });

  it('enforces the job timeout and leaves no qemu behind', async () => {
    process.env.FAKE_QEMU_MODE = 'job-hangs';
    const r = await runGuest(base());
    expect(r.status).toBe('timeout');
    expect(r.retries).toBe(0);
    expect(alive(await fakePid())).toBe(false);
  });

  it('reports a panic after ready as a result, not a flake, with the warnings before it', async () => {
    process.env.FAKE_QEMU_MODE = 'warn-then-panic';
    const r = await runGuest(base());
    expect(r.status).toBe('panic');
    expect(r.retries).toBe(0);
    expect(r.kernelWarnings).toHaveLength(1);
    expect(r.kernelOopses).toEqual([
      '[   20.500000] BUG: unable to handle page fault for address: ffb5df3005204008',
    ]);
    expect(r.panic).toContain('Kernel panic');
  });

  it('gives an NVDIMM guest a fresh backing file and removes it afterwards, and forwards ports', async () => {
    process.env.FAKE_QEMU_MODE = 'done';
    const r = await runGuest({ ...base(), pmem: 'nvdimm-devdax', forwardPorts: [9464] });
    expect(r.status).toBe('done');
    const args = await readFile(join(tmp, 'state.args'), 'utf8');
    expect(args).toContain('nvdimm,id=nvdimm1');
    expect(args).toMatch(/hostfwd=tcp:127\.0\.0\.1:\d+-:9464/);
    expect(r.hostPorts[9464]).toBeGreaterThan(0);
    expect(existsSync(join(r.runDir, 'nvdimm.img'))).toBe(false);
  });
});

describe('kernel cache', () => {
  it('resolves the newest kernel of a series, unpacks it once and finds it again offline', async () => {
    process.env.PATH = `${FAKES}:${ORIGINAL_PATH}`;
    const cacheDir = join(tmp, 'kcache');
    const k = await ensureKernel('7', { cacheDir, log: silentLogger });
    expect(k.release).toBe('7.3.4+deb13-amd64');
    expect(k.packageVersion).toBe('7.3.4-1~bpo13+1');
    expect(k.model).toBe('new');
    expect(k.vmlinuz).toBe(join(k.modulesDir, 'vmlinuz'));
    expect(existsSync(join(k.modulesDir, 'modules.dep'))).toBe(true);
    expect(await readFile(join(cacheDir, 'apt', '7', 'sources.list'), 'utf8')).toContain(
      'trixie-backports main',
    );
    expect(await ensureKernel('7', { cacheDir, log: silentLogger })).toEqual(k);
    // The archive index is re-read only when it is older than 30 minutes.
    const aptCalls = (await readFile(join(tmp, 'apt.log'), 'utf8')).split('\n');
    expect(aptCalls.filter((l) => / update$/.test(l))).toHaveLength(1);
    expect(aptCalls.filter((l) => / download /.test(l))).toHaveLength(1);
    process.env.DAXMON_VM_OFFLINE = '1';
    expect(await ensureKernel('7', { cacheDir, log: silentLogger })).toEqual(k);
    await expect(ensureKernel('6.12', { cacheDir, log: silentLogger })).rejects.toThrow(/offline mode/);
    await expect(ensureKernel('5.4', { cacheDir })).rejects.toMatchObject({
      code: 'DAXMON_E_VM_KERNEL_SERIES',
    });
  });
});

describe('runLab', () => {
  it('prints the URLs, and stops the guest cleanly when asked', async () => {
    process.env.FAKE_QEMU_MODE = 'lab';
    const lines: string[] = [];
    const stop = new AbortController();
    const r = await runLab({
      repoDir: join(tmp, 'repo'),
      command: ['true'],
      cacheDir: join(tmp, 'kcache'),
      log: silentLogger,
      handleSignals: false,
      signal: stop.signal,
      prometheus: false,
      print: (l) => {
        lines.push(l);
        if (l.includes('Ctrl-C')) setTimeout(() => stop.abort(), 200);
      },
    });
    expect(r.guest.status).toBe('done');
    expect(r.urls.metrics).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(lines.join('\n')).toContain('[daxmon] listening on 0.0.0.0:9464');
    expect(lines.join('\n')).not.toContain('prometheus:');
    expect(r.metricsServed).toBe(false);
    expect(r.prometheus).toBeUndefined();
  });

  it('runs a Prometheus on the forwarded port with the alert rules, prints its URL, and stops it with the lab', async () => {
    process.env.FAKE_QEMU_MODE = 'lab';
    const lines: string[] = [];
    const stop = new AbortController();
    let seen: { scrapeUrl: string; job: string; rules: number } | undefined;
    let failure: unknown;
    const r = await runLab({
      repoDir: REPO,
      command: ['true'],
      cacheDir: join(tmp, 'kcache'),
      log: silentLogger,
      handleSignals: false,
      signal: stop.signal,
      print: (l) => lines.push(l),
      onStarted: ({ prometheusUrl }) => {
        void (async () => {
          type Targets = { data: { activeTargets: { scrapeUrl: string; labels: { job: string } }[] } };
          let targets: Targets = { data: { activeTargets: [] } };
          // Service discovery hands Prometheus its static target a moment after it is ready.
          await waitFor('the lab target', 10_000, async () => {
            targets = (await (await fetch(`${prometheusUrl}/api/v1/targets`)).json()) as Targets;
            return targets.data.activeTargets.length > 0;
          });
          const rules = (await (await fetch(`${prometheusUrl}/api/v1/rules`)).json()) as {
            data: { groups: { rules: unknown[] }[] };
          };
          const t = targets.data.activeTargets[0];
          seen = {
            scrapeUrl: t?.scrapeUrl ?? '',
            job: t?.labels.job ?? '',
            rules: rules.data.groups.flatMap((g) => g.rules).length,
          };
        })()
          .catch((err: unknown) => (failure = err))
          .finally(() => stop.abort());
      },
    });
    expect(failure).toBeUndefined();
    expect(r.guest.status).toBe('done');
    expect(r.prometheus?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(lines).toContain(
      `  prometheus: ${r.prometheus?.url}/ (scrapes daxmon, alerts from dashboards/alerts.yml)`,
    );
    expect(seen).toEqual({ scrapeUrl: r.urls.metrics, job: 'daxmon', rules: 21 });
    // No daxmon answers in the fake guest.
    expect(r.prometheus?.scrapedDaxmon).toBe(false);
    expect(livePrometheusCount()).toBe(0);
    await expect(fetch(`${r.prometheus?.url}/-/ready`)).rejects.toThrow();
  }, 60_000);

  /**
   * runLab against the fake qemu in `mode`, sending the first SIGINT once the lab says Ctrl-C
   * stops it (as the process gets it: qemu.ts's handlers see it too, and must hold off), and
   * calling `onLine` on every printed line for what a case sends next.
   */
  async function labWithSignals(mode: string, onLine: (l: string) => void) {
    process.env.FAKE_QEMU_MODE = mode;
    const lines: string[] = [];
    const r = await runLab({
      repoDir: join(tmp, 'repo'),
      command: ['true'],
      cacheDir: join(tmp, 'kcache'),
      log: silentLogger,
      prometheus: false,
      print: (l) => {
        lines.push(l);
        if (l.includes('Ctrl-C stops')) setTimeout(() => process.emit('SIGINT', 'SIGINT'), 100);
        onLine(l);
      },
    });
    return { r, lines };
  }

  it('on the first SIGINT leaves qemu running and asks the guest to stop; the guest powers off by itself', async () => {
    const { r, lines } = await labWithSignals('lab', () => {});
    expect(r.stop).toMatchObject({ phase: 'stopping', cause: 'SIGINT' });
    expect(r.guest.status).toBe('done');
    expect(r.guest.poweredOff).toBe(true);
    expect(existsSync(join(r.guest.resultsDir, 'lab-stop'))).toBe(true);
    const out = lines.join('\n');
    expect(out).toContain('SIGINT: stopping daxmon (SIGTERM) and powering the guest off');
    expect(out).toMatch(/daxmon lab: kernel booting[\s\S]*daxmon lab: guest up: setting up pmem/);
    // No daxmon answers in the fake guest: a failure, said so.
    expect(out).toContain('failed: daxmon never answered /metrics (exit 1)');
    expect(process.listenerCount('SIGINT')).toBe(0);
  });

  it('a second SIGINT kills qemu and says the stop was forced', async () => {
    const { r, lines } = await labWithSignals('lab-slow-stop', (l) => {
      // The same Ctrl-C twice (terminal and npm) is one; a later one is the second.
      if (l.includes('again to force')) setTimeout(() => process.emit('SIGINT', 'SIGINT'), 10);
      if (l.includes('the guest sent daxmon SIGTERM'))
        setTimeout(() => process.emit('SIGTERM', 'SIGTERM'), 1200);
    });
    expect(r.stop).toEqual({ phase: 'forced', cause: 'SIGINT', why: 'second-request' });
    expect(r.guest.status).toBe('aborted');
    expect(r.guest.poweredOff).toBe(false);
    expect(lines.join('\n')).toContain('forced: asked again: killing qemu');
    expect(lines.filter((l) => l.includes('again to force'))).toHaveLength(1);
  });

  it('refuses to start without a built daxmon', async () => {
    await expect(
      runLab({ repoDir: join(tmp, 'nothing'), cacheDir: join(tmp, 'kcache'), log: silentLogger }),
    ).rejects.toThrow(/npm run build/);
  });
});

describe('qemu and signals', () => {
  it('kills qemu on a signal, unless a holder (the lab) stops its guest itself', async () => {
    process.env.FAKE_QEMU_MODE = 'hang';
    // A listener of ours, so that qemu.ts does not re-raise the signal and end the test worker.
    const ours = (): void => {};
    process.on('SIGHUP', ours);
    try {
      await rm(join(tmp, 'state.pid'), { force: true });
      const release = holdQemuSignals();
      const p = runGuest({ ...base(), bootTimeoutMs: 60_000, maxBootAttempts: 1 });
      await waitFor('the fake qemu', 10_000, async () => existsSync(join(tmp, 'state.pid')));
      const pid = await fakePid();
      process.emit('SIGHUP', 'SIGHUP');
      await new Promise((r) => setTimeout(r, 300));
      expect(alive(pid)).toBe(true);
      expect(liveQemuCount()).toBe(1);
      release();
      release();
      expect(qemuSignalsHeld()).toBe(false);
      process.emit('SIGHUP', 'SIGHUP');
      await expect(p).rejects.toThrow(/exited-early/);
      expect(alive(pid)).toBe(false);
    } finally {
      process.off('SIGHUP', ours);
    }
  });
});
