/**
 * The kernel's HMM test driver (`lib/test_hmm.c`, "dmirror") and its selftest (`hmm-tests`), built
 * for a Debian guest kernel from Debian's own `linux-source-X.Y` in the trixie build root with the
 * kernel's compiler (docs/kernel-model.md §13: Debian does not build TEST_HMM). Outputs are cached
 * under `<cache>/hmm/<key>`, keyed by kernel release + package version + the source deb's SHA256 +
 * the build root's key, so they are rebuilt only when one of those changes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { parseAptStanzas } from './apt-meta.js';
import type { BuildRoot } from './buildroot.js';
import { runInBuildRoot } from './buildroot.js';
import { VmError } from './errors.js';
import { ensureKernelHeaders, headersRootOf } from './headers.js';
import type { KernelBuild } from './kernels.js';
import { aptDirs, aptLocked, aptOptions, findSeries } from './kernels.js';
import type { Logger } from './log.js';
import { defaultLogger } from './log.js';

/** Bumped when the recipe below changes, so old outputs are not reused. */
export const HMM_RECIPE = 1;

/** `7.3.4-1~bpo13+1` → `linux-source-7.3`. */
export function sourcePackageName(packageVersion: string): string {
  const m = /^(?:\d+:)?(\d+)\.(\d+)/.exec(packageVersion);
  if (!m)
    throw new VmError('DAXMON_E_VM_CONFIG', `cannot tell the series of kernel version ${packageVersion}`);
  return `linux-source-${m[1]}.${m[2]}`;
}

export function hmmBuildKey(k: {
  release: string;
  packageVersion: string;
  sourceSha256: string;
  buildRootKey: string;
}): string {
  const h = createHash('sha256')
    .update(JSON.stringify([HMM_RECIPE, k.release, k.packageVersion, k.sourceSha256, k.buildRootKey]))
    .digest('hex')
    .slice(0, 12);
  return `${k.release}_${h}`;
}

/** Members of the source tarball the two builds need (a full unpack is ~1.5 GB). */
export function sourceMembers(top: string): string[] {
  return [
    `${top}/lib/test_hmm.c`,
    `${top}/lib/test_hmm_uapi.h`,
    `${top}/mm/gup_test.h`,
    `${top}/tools/testing/selftests/kselftest*`,
    `${top}/tools/testing/selftests/mm/*`,
    `${top}/tools/include/*`,
    `${top}/tools/arch/x86/include/*`,
  ];
}

/** `make` for the external module, run in the build root with Debian's headers. */
export function moduleMakeArgs(kbuildDir: string, moduleDir: string): string[] {
  return ['make', '-C', kbuildDir, `M=${moduleDir}`, 'modules'];
}

/**
 * The compiler line of the selftest Makefile for hmm-tests (tools/testing/selftests/mm/Makefile and
 * lib.mk), plus `-static`: it runs in the guest from the bookworm host's root, whose libc is older
 * than the build root's.
 */
export function hmmTestsCompileArgs(srcTop: string, out: string): string[] {
  const mm = `${srcTop}/tools/testing/selftests/mm`;
  return [
    'gcc-14',
    '-static',
    '-Wall',
    '-O2',
    '-D_GNU_SOURCE=',
    '-U_FORTIFY_SOURCE',
    '-no-pie',
    '-I',
    srcTop,
    '-I',
    `${srcTop}/tools/testing/selftests`,
    '-isystem',
    `${srcTop}/tools/include/uapi`,
    `${mm}/hmm-tests.c`,
    `${mm}/vm_util.c`,
    `${mm}/hugepage_settings.c`,
    '-lrt',
    '-lpthread',
    '-lm',
    '-o',
    out,
  ];
}

/** The `vermagic:` field of `modinfo` output. */
export function vermagicOf(modinfo: string): string | undefined {
  return /^vermagic:\s+(.+?)\s*$/m.exec(modinfo)?.[1];
}

export interface HmmBuild {
  key: string;
  /** test_hmm.ko and hmm-tests, and the source's test_hmm.sh for reference. */
  module: string;
  tests: string;
  vermagic: string;
  kernelRelease: string;
  sourcePackage: string;
  sourceSha256: string;
  fresh: boolean;
  elapsedMs: number;
}

export interface HmmBuildOptions {
  cacheDir: string;
  kernel: KernelBuild;
  buildRoot: BuildRoot;
  log?: Logger;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Downloads the source deb into `<cache>/hmm/debs` (kept: it is the input the key names). */
export async function ensureSourceDeb(
  o: Pick<HmmBuildOptions, 'cacheDir' | 'kernel' | 'log'>,
  pkg: string,
): Promise<{ deb: string; sha256: string }> {
  const log = o.log ?? defaultLogger;
  const d = aptDirs(o.cacheDir, findSeries(o.kernel.series));
  const opts = aptOptions(d);
  const spec = `${pkg}=${o.kernel.packageVersion}`;
  const stanza = parseAptStanzas(await aptLocked(d, ['apt-cache', ...opts, 'show', spec]))[0];
  const sha256 = stanza?.SHA256;
  if (!stanza || !sha256) throw new VmError('DAXMON_E_VM_APT', `no ${spec} in the archive index`);
  const debs = join(o.cacheDir, 'hmm', 'debs');
  await mkdir(debs, { recursive: true });
  const find = async (): Promise<string | undefined> =>
    (await readdir(debs))
      .filter((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'))
      .map((f) => join(debs, f))[0];
  let deb = await find();
  if (deb && (await sha256File(deb)) !== sha256) {
    await rm(deb);
    deb = undefined;
  }
  if (!deb) {
    log(`downloading ${spec} (${(Number(stanza.Size ?? 0) / 2 ** 20).toFixed(0)} MiB)`);
    await aptLocked(d, ['apt-get', ...opts, '-q', 'download', spec], debs);
    deb = await find();
    if (!deb || (await sha256File(deb)) !== sha256) {
      throw new VmError('DAXMON_E_VM_APT', `${spec} downloaded with a checksum other than the index's`);
    }
  }
  return { deb, sha256 };
}

async function readHmm(dir: string): Promise<HmmBuild | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, 'hmm.json'), 'utf8')) as HmmBuild;
  } catch {
    return undefined;
  }
}

/** Returns test_hmm.ko and hmm-tests for `kernel`, building them on first use. */
export async function ensureHmmBuild(o: HmmBuildOptions): Promise<HmmBuild> {
  const t0 = Date.now();
  const log = o.log ?? defaultLogger;
  const pkg = sourcePackageName(o.kernel.packageVersion);
  const { deb, sha256 } = await ensureSourceDeb(o, pkg);
  const key = hmmBuildKey({
    release: o.kernel.release,
    packageVersion: o.kernel.packageVersion,
    sourceSha256: sha256,
    buildRootKey: o.buildRoot.key,
  });
  const finalDir = join(o.cacheDir, 'hmm', key);
  const cached = await readHmm(finalDir);
  if (cached) return { ...cached, fresh: false, elapsedMs: Date.now() - t0 };

  const kbuild = await ensureKernelHeaders(o.kernel, { cacheDir: o.cacheDir, log });
  // The headers' Makefile includes the -common tree by its cache path: bind the whole headers root.
  const headersRoot = headersRootOf(kbuild);
  const work = join(o.cacheDir, 'hmm', `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(work, { recursive: true });
  try {
    log(`unpacking lib/test_hmm.c and the mm selftests from ${pkg}`);
    const debRoot = join(work, 'deb');
    await execa('dpkg', ['-x', deb, debRoot]);
    const tarball = (await readdir(join(debRoot, 'usr', 'src'))).find(
      (f) => f.startsWith(pkg) && f.includes('.tar'),
    );
    if (!tarball) throw new VmError('DAXMON_E_VM_KERNEL_LAYOUT', `no source tarball in ${deb}`);
    const srcBase = join(work, 'src');
    await mkdir(srcBase);
    await execa('tar', [
      '-xf',
      join(debRoot, 'usr', 'src', tarball),
      '-C',
      srcBase,
      '--wildcards',
      ...sourceMembers(pkg),
    ]);
    await rm(debRoot, { recursive: true, force: true });
    const srcTop = join(srcBase, pkg);

    const modDir = join(work, 'module');
    await mkdir(modDir);
    for (const f of ['test_hmm.c', 'test_hmm_uapi.h'])
      await copyFile(join(srcTop, 'lib', f), join(modDir, f));
    await writeFile(join(modDir, 'Kbuild'), 'obj-m := test_hmm.o\n');

    log(`building test_hmm.ko for ${o.kernel.release} in the build root`);
    const binds = [work, headersRoot];
    await runInBuildRoot(
      { root: o.buildRoot.dir, binds, cwd: modDir, argv: moduleMakeArgs(kbuild, modDir) },
      'make test_hmm.ko',
    );
    const modinfo = await runInBuildRoot(
      { root: o.buildRoot.dir, binds, cwd: modDir, argv: ['modinfo', join(modDir, 'test_hmm.ko')] },
      'modinfo test_hmm.ko',
    );
    const vermagic = vermagicOf(modinfo);
    if (!vermagic || vermagic.split(' ')[0] !== o.kernel.release) {
      throw new VmError(
        'DAXMON_E_VM_BUILD',
        `test_hmm.ko has vermagic "${vermagic ?? '?'}", not the guest kernel's ${o.kernel.release}`,
      );
    }
    log('building a static hmm-tests in the build root');
    const outDir = join(work, 'out');
    await mkdir(outDir);
    await runInBuildRoot(
      {
        root: o.buildRoot.dir,
        binds,
        cwd: srcTop,
        argv: hmmTestsCompileArgs(srcTop, join(outDir, 'hmm-tests')),
      },
      'gcc hmm-tests',
    );
    await copyFile(join(modDir, 'test_hmm.ko'), join(outDir, 'test_hmm.ko'));
    await copyFile(
      join(srcTop, 'tools', 'testing', 'selftests', 'mm', 'test_hmm.sh'),
      join(outDir, 'test_hmm.sh'),
    );
    const build: HmmBuild = {
      key,
      module: join(finalDir, 'test_hmm.ko'),
      tests: join(finalDir, 'hmm-tests'),
      vermagic,
      kernelRelease: o.kernel.release,
      sourcePackage: `${pkg}=${o.kernel.packageVersion}`,
      sourceSha256: sha256,
      fresh: true,
      elapsedMs: 0,
    };
    await writeFile(join(outDir, 'hmm.json'), JSON.stringify(build, null, 2) + '\n');
    try {
      await rename(outDir, finalDir);
    } catch (err) {
      const winner = await readHmm(finalDir);
      if (!winner) throw err;
    }
    const elapsedMs = Date.now() - t0;
    log(`test_hmm.ko and hmm-tests ready in ${(elapsedMs / 1000).toFixed(1)} s`);
    return { ...build, elapsedMs };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
