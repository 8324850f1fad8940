import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultCacheDir, ensureKernel, liveQemuCount, runLab } from '../../lab/src/index.js';
import { REPO_DIR } from './matrix.js';

// `daxmon lab --kernel IMAGE --modules DIR --config FILE` end to end, with Debian's 6.12 laid out
// as a developer's build would leave it (bzImage, lib/modules/RELEASE without modules.dep, .config):
// the lab checks the config, installs the modules into its cache, boots it and daxmon gets ready.
// A config without FS_DAX is refused before qemu starts. DAXMON_VM_LAB=0 skips it (like the lab test).
const enabled = process.env.DAXMON_VM_LAB !== '0' && existsSync(join(REPO_DIR, 'dist', 'cli.js'));

const work = mkdtempSync(join(os.tmpdir(), 'daxmon-user-build-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function userBuild(): Promise<{ image: string; modules: string; config: string; release: string }> {
  const k = await ensureKernel('6.12', { cacheDir: defaultCacheDir(), log: () => {} });
  const image = join(work, 'bzImage');
  cpSync(k.vmlinuz, image);
  const modules = join(work, 'lib', 'modules', k.release);
  cpSync(k.modulesDir, modules, { recursive: true });
  for (const f of readdirSync(modules)) if (f.startsWith('modules.')) rmSync(join(modules, f));
  const config = join(work, '.config');
  cpSync(join(k.root, 'boot', `config-${k.release}`), config);
  return { image, modules, config, release: k.release };
}

async function get(url: string): Promise<{ status: number; body: string } | undefined> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
    return { status: r.status, body: await r.text() };
  } catch {
    return undefined;
  }
}

describe.skipIf(!enabled)('daxmon lab with a kernel the user built', () => {
  it('refuses a config without FS_DAX before booting, then boots the good one: daxmon ready on it', async () => {
    const b = await userBuild();
    const bad = join(work, 'bad.config');
    writeFileSync(
      bad,
      readFileSync(b.config, 'utf8').replace('CONFIG_FS_DAX=y', '# CONFIG_FS_DAX is not set'),
    );
    const t0 = Date.now();
    await expect(
      runLab({
        repoDir: REPO_DIR,
        userKernel: { image: b.image, modules: b.modules, config: bad },
        handleSignals: false,
      }),
    ).rejects.toMatchObject({
      code: 'DAXMON_E_VM_KERNEL_CONFIG',
      message: expect.stringContaining('CONFIG_FS_DAX (=n'),
    });
    expect(liveQemuCount()).toBe(0);
    process.stderr.write(`user kernel: bad config refused in ${Date.now() - t0} ms\n`);

    const lines: string[] = [];
    const stop = new AbortController();
    let state: { kernel?: { release?: string; model?: string } } | undefined;
    const watch = (base: string) => {
      const poll = setInterval(() => {
        void (async () => {
          if ((await get(`${base}readyz`))?.status !== 200 || state) return;
          state = JSON.parse((await get(`${base}api/state`))?.body ?? '{}') as typeof state;
          clearInterval(poll);
          setTimeout(() => stop.abort(), 2000);
        })();
      }, 1000);
      stop.signal.addEventListener('abort', () => clearInterval(poll), { once: true });
    };
    const r = await runLab({
      repoDir: REPO_DIR,
      userKernel: { image: b.image, modules: b.modules, config: b.config },
      durationMs: 600_000,
      prometheus: false,
      print: (l) => lines.push(l),
      handleSignals: false,
      signal: stop.signal,
      onStarted: (st) => watch(st.urls.base),
    });
    stop.abort();
    const why = `lab output:\n${lines.join('\n')}\nconsole: ${r.guest.consoleLog}`;
    expect(state?.kernel, why).toMatchObject({ release: b.release, model: 'old' });
    expect(r.metricsServed, why).toBe(true);
    // The developer's folder was only read: modules.dep went into the lab's cache.
    expect(existsSync(join(b.modules, 'modules.dep'))).toBe(false);
    expect(liveQemuCount()).toBe(0);
  });
});
