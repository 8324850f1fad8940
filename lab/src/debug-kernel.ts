/**
 * The project's own debug kernel (issue 17): Debian's linux-source-7.3, the exact source of the
 * lab's 7.3.4 kernel, built in the trixie build root (gcc 14, Debian's compiler) with Debian's own
 * config plus daxmon's fragment (`daxmon kconfig`: DEBUG_PAGE_REF, TEST_HMM, …), once per machine
 * into the cache, rebuilt only when an input changes (the key). A full Debian config builds every
 * driver Debian ships (thousands of modules: hours on 2 cores), so the config is first narrowed
 * with `make localmodconfig` to the modules the lab's guest loads (GUEST_MODULES and their
 * dependencies, from Debian's own modules.dep), then the fragment is merged on top: every built-in
 * option of Debian's config stays, modules nobody loads are dropped. Module signing is off (no
 * key to sign with, and the lab loads unsigned modules anyway), and so is lockdown, which forces it.
 *
 * The result is laid out as a developer's build (image, lib/modules/RELEASE, .config) and booted
 * through the user-kernel path (user-kernel.ts), exactly as a developer's own build is.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { renderKconfigFragment } from '../../src/kernel/kconfig-fragment.js';
import type { BuildRoot } from './buildroot.js';
import { runInBuildRoot } from './buildroot.js';
import { VmError } from './errors.js';
import { lockFile } from './filelock.js';
import { ensureKernelHeaders } from './headers.js';
import { ensureSourceDeb, sourcePackageName } from './hmm.js';
import { GUEST_MODULES } from './initramfs.js';
import type { KernelBuild } from './kernels.js';
import type { Logger } from './log.js';
import { defaultLogger } from './log.js';
import { moduleName, parseModulesDep } from './modules-dep.js';
import { configRefusal } from './user-kernel.js';

/** Bump when the steps below change what is built. */
export const DEBUG_KERNEL_RECIPE = 1;
export const DEBUG_LOCALVERSION = '-daxmon-debug';
/** Modules the lab's tests load beyond the initramfs's (HMM's driver comes from the fragment). */
const EXTRA_MODULES = ['virtio_rng', 'virtio_blk', 'dm_mod', 'loop', 'overlay', 'tun'];
const MAKE = ['make', 'CC=gcc-14', 'HOSTCC=gcc-14'];

/** Pure: an `lsmod` listing of `wanted` and every module they need, for `make localmodconfig`. */
export function lsmodFor(modulesDep: string, wanted: readonly string[]): string {
  const dep = parseModulesDep(modulesDep);
  const byName = new Map<string, string[]>();
  for (const [mod, deps] of dep) byName.set(moduleName(mod), deps.map(moduleName));
  const seen = new Set<string>();
  const add = (n: string): void => {
    if (seen.has(n) || !byName.has(n)) return;
    seen.add(n);
    for (const d of byName.get(n)!) add(d);
  };
  for (const w of wanted) add(w.replace(/-/g, '_'));
  return (
    ['Module                  Size  Used by', ...[...seen].sort().map((n) => `${n} 16384 0`)].join('\n') +
    '\n'
  );
}

/** Pure: the shell steps that turn Debian's config into the debug build's (run in the source tree). */
export function debugConfigScript(): string {
  const make = MAKE.join(' ');
  return [
    `yes '' | ${make} LSMOD=../lsmod.txt localmodconfig > ../config.log`,
    'scripts/kconfig/merge_config.sh -m .config ../daxmon.config >> ../config.log',
    'scripts/config --disable SECURITY_LOCKDOWN_LSM --disable MODULE_SIG --disable MODULE_SIG_ALL' +
      ` --set-str SYSTEM_TRUSTED_KEYS '' --set-str SYSTEM_REVOCATION_KEYS '' --set-str BUILD_SALT ''` +
      ` --set-str LOCALVERSION '${DEBUG_LOCALVERSION}' --disable LOCALVERSION_AUTO`,
    `${make} olddefconfig >> ../config.log`,
  ].join(' && ');
}

export function debugKernelKey(k: {
  sourceSha256: string;
  baseConfig: string;
  fragment: string;
  lsmod: string;
  buildRootKey: string;
}): string {
  return createHash('sha256')
    .update(JSON.stringify({ ...k, recipe: DEBUG_KERNEL_RECIPE }))
    .digest('hex')
    .slice(0, 16);
}

export interface DebugKernel {
  key: string;
  release: string;
  /** For ensureUserKernel / `daxmon lab --kernel IMAGE --modules DIR --config FILE`. */
  source: { image: string; modules: string; config: string };
  /** Wall time of `make bzImage modules` when it was built. */
  buildSeconds: number;
  fresh: boolean;
  elapsedMs: number;
}

export interface DebugKernelOptions {
  cacheDir: string;
  /** Debian's 7.3 kernel of the lab (its source package and config are the inputs). */
  kernel: KernelBuild;
  buildRoot: BuildRoot;
  /** make -j (default 2: these machines' cores). */
  jobs?: number;
  log?: Logger;
}

/** The debug kernel for `kernel`'s source, building it on first use (tens of minutes on 2 cores). */
export async function ensureDebugKernel(o: DebugKernelOptions): Promise<DebugKernel> {
  const t0 = Date.now();
  const log = o.log ?? defaultLogger;
  const pkg = sourcePackageName(o.kernel.packageVersion);
  const { deb, sha256 } = await ensureSourceDeb(o, pkg);
  const kbuild = await ensureKernelHeaders(o.kernel, { cacheDir: o.cacheDir, log });
  const baseConfig = await readFile(join(kbuild, '.config'), 'utf8');
  const fragment = renderKconfigFragment();
  const lsmod = lsmodFor(await readFile(join(o.kernel.modulesDir, 'modules.dep'), 'utf8'), [
    ...GUEST_MODULES,
    ...EXTRA_MODULES,
  ]);
  const key = debugKernelKey({
    sourceSha256: sha256,
    baseConfig,
    fragment,
    lsmod,
    buildRootKey: o.buildRoot.key,
  });
  const finalDir = join(o.cacheDir, 'debug-kernel', key);
  const marker = join(finalDir, 'debug-kernel.json');
  if (existsSync(marker)) {
    const d = JSON.parse(await readFile(marker, 'utf8')) as DebugKernel;
    return { ...d, fresh: false, elapsedMs: Date.now() - t0 };
  }

  // One build at a time per key; a failed build keeps its tree here, and the next run goes on
  // from it (make is incremental), so a fix costs minutes, not the whole build again.
  await mkdir(join(o.cacheDir, 'debug-kernel'), { recursive: true });
  const lock = await lockFile(`${finalDir}.lock`, () =>
    log(`debug kernel ${key}: another run is building it, waiting`),
  );
  try {
    if (existsSync(marker)) {
      const d = JSON.parse(await readFile(marker, 'utf8')) as DebugKernel;
      return { ...d, fresh: false, elapsedMs: Date.now() - t0 };
    }
    const work = `${finalDir}.work`;
    const tree = join(work, pkg);
    const inRoot = (argv: string[], what: string): Promise<string> =>
      runInBuildRoot({ root: o.buildRoot.dir, binds: [work], cwd: tree, argv }, what);
    if (!existsSync(join(work, 'configured'))) {
      await rm(work, { recursive: true, force: true });
      await mkdir(work, { recursive: true });
      log(`debug kernel ${key}: unpacking ${pkg}`);
      await execa('dpkg', ['-x', deb, join(work, 'deb')]);
      const srcDir = join(work, 'deb', 'usr', 'src');
      const tarball = (await readdir(srcDir)).find((f) => f.startsWith(pkg) && f.includes('.tar'));
      if (!tarball) throw new VmError('DAXMON_E_VM_KERNEL_LAYOUT', `no source tarball in ${deb}`);
      await execa('tar', ['-xf', join(srcDir, tarball), '-C', work]);
      await rm(join(work, 'deb'), { recursive: true, force: true });
      await writeFile(join(tree, '.config'), baseConfig);
      await writeFile(join(work, 'daxmon.config'), fragment);
      await writeFile(join(work, 'lsmod.txt'), lsmod);
      log(`debug kernel ${key}: Debian's config narrowed to the lab's modules, daxmon's fragment merged`);
      await inRoot(['sh', '-c', debugConfigScript()], 'configuring the debug kernel');
      const config = await readFile(join(tree, '.config'), 'utf8');
      const refusal = configRefusal(config, 'the debug kernel config');
      if (refusal) throw new VmError('DAXMON_E_VM_KERNEL_CONFIG', refusal);
      for (const opt of ['DEBUG_PAGE_REF', 'DEBUG_INFO_BTF']) {
        if (!new RegExp(`^CONFIG_${opt}=y$`, 'm').test(config))
          throw new VmError('DAXMON_E_VM_BUILD', `the debug kernel config lost CONFIG_${opt}=y`);
      }
      await writeFile(join(work, 'configured'), '');
    } else {
      log(`debug kernel ${key}: going on from the earlier build in ${work}`);
    }

    const jobs = o.jobs ?? 2;
    const buildLog = join(work, 'build.log');
    log(`debug kernel ${key}: make -j${jobs} bzImage modules (tens of minutes on 2 cores; log: ${buildLog})`);
    const b0 = Date.now();
    const progress = setInterval(() => {
      void countObjects(tree).then((n) =>
        log(`debug kernel ${key}: ${n} objects compiled, ${Math.round((Date.now() - b0) / 60000)} min`),
      );
    }, 120_000);
    try {
      await inRoot(
        ['sh', '-c', `${[...MAKE, `-j${jobs}`, 'bzImage', 'modules'].join(' ')} >> ../build.log 2>&1`],
        'make',
      );
    } catch (err) {
      const spent = Number(await readFile(join(work, 'build-seconds'), 'utf8').catch(() => '0')) || 0;
      await writeFile(join(work, 'build-seconds'), String(spent + (Date.now() - b0) / 1000));
      const tail = (await readFile(buildLog, 'utf8').catch(() => ''))
        .split('\n')
        .filter((l) => /error|Error|\*\*\*/.test(l))
        .slice(-6)
        .join(' | ');
      throw new VmError(
        'DAXMON_E_VM_BUILD',
        `make bzImage modules of the debug kernel failed: ${tail || 'see the log'} (log ${buildLog}; the partial build is kept there and the next run goes on from it)`,
        { cause: err },
      );
    } finally {
      clearInterval(progress);
    }
    // Across attempts: a build that went on from a failed one counts the earlier make too.
    const before = Number(await readFile(join(work, 'build-seconds'), 'utf8').catch(() => '0')) || 0;
    const buildSeconds = before + (Date.now() - b0) / 1000;
    const release = (await inRoot([...MAKE, '-s', 'kernelrelease'], 'make kernelrelease')).trim();
    log(
      `debug kernel ${key}: ${release} built in ${(buildSeconds / 60).toFixed(1)} min; installing its modules`,
    );
    const mods = join(work, 'modules');
    await rm(mods, { recursive: true, force: true });
    await inRoot(
      [...MAKE, 'modules_install', `INSTALL_MOD_PATH=${mods}`, 'INSTALL_MOD_STRIP=1'],
      'make modules_install',
    );
    // What the lab boots: the image, the modules and the config, as a developer would give them.
    // The objects are not kept (gigabytes): a changed input rebuilds from the source anyway.
    const out = join(work, 'out');
    await rm(out, { recursive: true, force: true });
    await mkdir(out);
    await rename(join(tree, 'arch', 'x86', 'boot', 'bzImage'), join(out, 'bzImage'));
    await rename(join(tree, '.config'), join(out, 'config'));
    await rename(join(mods, 'lib', 'modules', release), join(out, release));
    await rename(buildLog, join(out, 'build.log'));
    const dk: DebugKernel = {
      key,
      release,
      source: {
        image: join(finalDir, 'bzImage'),
        modules: join(finalDir, release),
        config: join(finalDir, 'config'),
      },
      buildSeconds,
      fresh: true,
      elapsedMs: 0,
    };
    await writeFile(join(out, 'debug-kernel.json'), JSON.stringify(dk, null, 2) + '\n');
    await rm(finalDir, { recursive: true, force: true });
    await rename(out, finalDir);
    await rm(work, { recursive: true, force: true });
    return { ...dk, elapsedMs: Date.now() - t0 };
  } finally {
    await lock.release();
  }
}

async function countObjects(tree: string): Promise<number> {
  const r = await execa('sh', ['-c', `find ${JSON.stringify(tree)} -name '*.o' | wc -l`], { reject: false });
  return Number.parseInt(r.stdout, 10) || 0;
}
