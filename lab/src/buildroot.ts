/**
 * A Debian trixie build root (debootstrap, minbase) in the lab's cache, for building code against a
 * guest kernel with that kernel's own compiler: Debian's 7.3 kernels are built with gcc 14, which
 * the bookworm host does not have, and their kbuild tools (fixdep, modpost) link against trixie's
 * libc. Nothing is installed on the host: debootstrap writes only into the cache folder.
 *
 * Keyed by suite + package list + mirror: a changed list builds a new root beside the old one.
 * Built in a temporary folder and renamed into place, under a lock, so a second run waits and then
 * reuses the first one's root.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { VmError } from './errors.js';
import { lockFile } from './filelock.js';
import type { Logger } from './log.js';
import { defaultLogger } from './log.js';
import { requireTools } from './tools.js';

export const BUILDROOT_SUITE = 'trixie';
export const BUILDROOT_MIRROR = 'http://deb.debian.org/debian';

/**
 * What a kernel module and a kselftest build need beyond minbase: gcc 14 (Debian's 7.3 compiler),
 * kbuild's tools (make, bc, bison, flex), libelf and libssl for the kbuild host programs, kmod,
 * libc6-dev for static selftests (libc.a), pahole for module BTF, python3 and zstd for a kernel build's tools.
 */
export const BUILDROOT_PACKAGES_TEXT = `
# compiler of Debian's 7.3 kernel (docs/kernel-model.md §13)
gcc-14
libc6-dev
make
bc
bison
flex
libelf-dev
libssl-dev
kmod
dwarves
xz-utils
# a kernel build's tools: libbpf's generator of bpf_helper_defs.h (resolve_btfids, for BTF), and
# the compressor of Debian's bzImage (CONFIG_KERNEL_ZSTD)
python3
zstd
`;

/** One package a line or comma/space separated; `#` starts a comment. Sorted, without duplicates. */
export function parsePackageList(text: string): string[] {
  const names = text
    .split('\n')
    .map((l) => l.replace(/#.*$/, ''))
    .flatMap((l) => l.split(/[\s,]+/))
    .filter((n) => n.length > 0);
  for (const n of names) {
    if (!/^[a-z0-9][a-z0-9+.-]+$/.test(n)) {
      throw new VmError('DAXMON_E_VM_CONFIG', `"${n}" is not a Debian package name in the build root list`);
    }
  }
  return [...new Set(names)].sort();
}

export interface BuildRootSpec {
  suite: string;
  mirror: string;
  packages: readonly string[];
}

export function defaultBuildRootSpec(): BuildRootSpec {
  return {
    suite: BUILDROOT_SUITE,
    mirror: process.env.DAXMON_BUILDROOT_MIRROR || BUILDROOT_MIRROR,
    packages: parsePackageList(BUILDROOT_PACKAGES_TEXT),
  };
}

/** The cache key: the same suite, mirror and package set (in any order) gives the same root. */
export function buildRootKey(spec: BuildRootSpec): string {
  const canon = JSON.stringify({
    suite: spec.suite,
    mirror: spec.mirror.replace(/\/+$/, ''),
    packages: [...new Set(spec.packages)].sort(),
  });
  return `${spec.suite}-${createHash('sha256').update(canon).digest('hex').slice(0, 16)}`;
}

export function debootstrapArgs(spec: BuildRootSpec, target: string): string[] {
  return [
    '--variant=minbase',
    `--include=${[...spec.packages].sort().join(',')}`,
    spec.suite,
    target,
    spec.mirror,
  ];
}

/**
 * The progress line for a debootstrap output line, or undefined for the ones not worth a line:
 * one line per phase, not per package (debootstrap prints hundreds).
 */
export function debootstrapPhase(line: string): string | undefined {
  const m =
    /^I: (Retrieving Release|Checking component|Retrieving Packages|Resolving dependencies|Found additional|Extracting|Installing core|Unpacking the base|Configuring the base|Base system installed)/.exec(
      line,
    );
  if (!m) return undefined;
  const phases: Record<string, string> = {
    'Retrieving Release': 'fetching the suite index',
    'Checking component': 'checking the suite',
    'Retrieving Packages': 'fetching the package list',
    'Resolving dependencies': 'resolving dependencies',
    'Found additional': 'resolving dependencies',
    Extracting: 'extracting packages',
    'Installing core': 'installing core packages',
    'Unpacking the base': 'unpacking packages',
    'Configuring the base': 'configuring packages',
    'Base system installed': 'done',
  };
  return phases[m[1] as string];
}

/** Which catalogue code a failed debootstrap's output points at. */
export function classifyDebootstrapFailure(
  output: string,
): 'DAXMON_E_VM_BUILDROOT_DISK' | 'DAXMON_E_VM_BUILDROOT_MIRROR' | 'DAXMON_E_VM_BUILDROOT' {
  if (/No space left on device|ENOSPC/i.test(output)) return 'DAXMON_E_VM_BUILDROOT_DISK';
  if (
    /Failed getting release file|Temporary failure resolving|Could not resolve|Connection refused|Network is unreachable|couldn't download|Failed to connect|Connection timed out/i.test(
      output,
    )
  )
    return 'DAXMON_E_VM_BUILDROOT_MIRROR';
  return 'DAXMON_E_VM_BUILDROOT';
}

/** A fresh root takes ~450 MiB; refuse early with a clear error rather than half-way through. */
export const BUILDROOT_MIN_FREE_BYTES = 1024 * 1024 * 1024;

export interface BuildRoot {
  key: string;
  dir: string;
  spec: BuildRootSpec;
  /** Whether this call built it (false: reused from the cache). */
  fresh: boolean;
  /** How long ensureBuildRoot took, ms. */
  elapsedMs: number;
}

export interface BuildRootOptions {
  cacheDir: string;
  spec?: BuildRootSpec;
  log?: Logger;
  /** For tests: the uid to check (default process.getuid()). */
  uid?: number;
}

const READY = '.daxmon-buildroot.json';

async function checkMirror(spec: BuildRootSpec): Promise<void> {
  const url = `${spec.mirror.replace(/\/+$/, '')}/dists/${spec.suite}/Release`;
  try {
    const r = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(20_000) });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
  } catch (err) {
    throw new VmError(
      'DAXMON_E_VM_BUILDROOT_MIRROR',
      `the Debian mirror does not answer for ${url} (${(err as Error).message}); check the network or set DAXMON_BUILDROOT_MIRROR`,
      { cause: err },
    );
  }
}

async function checkDisk(dir: string): Promise<void> {
  const s = await statfs(dir);
  const free = s.bavail * s.bsize;
  if (free < BUILDROOT_MIN_FREE_BYTES) {
    throw new VmError(
      'DAXMON_E_VM_BUILDROOT_DISK',
      `only ${(free / 2 ** 20).toFixed(0)} MiB free in ${dir}; a build root needs about 1 GiB: free some space or set DAXMON_CACHE`,
    );
  }
}

/** Returns the build root for `spec`, building it on first use. */
export async function ensureBuildRoot(opts: BuildRootOptions): Promise<BuildRoot> {
  const t0 = Date.now();
  const log = opts.log ?? defaultLogger;
  const spec = opts.spec ?? defaultBuildRootSpec();
  const key = buildRootKey(spec);
  const base = join(opts.cacheDir, 'buildroot');
  const dir = join(base, key);
  const done = (fresh: boolean): BuildRoot => ({ key, dir, spec, fresh, elapsedMs: Date.now() - t0 });
  if (existsSync(join(dir, READY))) return done(false);

  const uid = opts.uid ?? process.getuid?.() ?? 0;
  if (uid !== 0) {
    throw new VmError(
      'DAXMON_E_VM_BUILDROOT_NOT_ROOT',
      'debootstrap and chroot need root; run as root (sudo -E npm run lab:buildroot)',
    );
  }
  await requireTools(['debootstrap', 'chroot', 'unshare', 'flock']);
  await mkdir(base, { recursive: true });
  const lock = await lockFile(join(base, `${key}.lock`), () =>
    log(`build root ${key}: another run is building it, waiting`),
  );
  try {
    if (existsSync(join(dir, READY))) return done(false);
    await checkDisk(base);
    await checkMirror(spec);
    const work = join(base, `.tmp-${key}-${process.pid}-${randomBytes(4).toString('hex')}`);
    log(`build root ${key}: debootstrap ${spec.suite} (${spec.packages.length} extra packages)`);
    try {
      const child = execa('debootstrap', debootstrapArgs(spec, work), { all: true, reject: false });
      let lastPhase = '';
      let tail: string[] = [];
      child.all?.setEncoding('utf8');
      let partial = '';
      child.all?.on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        tail = [...tail, ...lines].slice(-20);
        for (const l of lines) {
          const phase = debootstrapPhase(l);
          if (phase && phase !== lastPhase) {
            lastPhase = phase;
            log(`build root ${key}: ${phase} (at ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
          }
        }
      });
      const r = await child;
      if (r.exitCode !== 0) {
        // debootstrap writes its detail to debootstrap.log inside the target.
        let detail = '';
        try {
          detail = await readFile(join(work, 'debootstrap', 'debootstrap.log'), 'utf8');
        } catch {
          // not created
        }
        const text = `${tail.join('\n')}\n${detail.split('\n').slice(-20).join('\n')}`;
        const code = classifyDebootstrapFailure(text);
        throw new VmError(
          code,
          `debootstrap ${spec.suite} failed (exit ${r.exitCode}): ${text.trim().split('\n').slice(-4).join(' | ')}`,
        );
      }
      await writeFile(
        join(work, READY),
        JSON.stringify({ key, ...spec, builtAt: new Date().toISOString() }, null, 2) + '\n',
      );
      await rename(work, dir);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    const b = done(true);
    log(`build root ${key} ready in ${(b.elapsedMs / 1000).toFixed(1)} s`);
    return b;
  } finally {
    await lock.release();
  }
}

export interface ChrootRun {
  /** The build root. */
  root: string;
  /** Host folders bind-mounted at the same path inside the root (the work dir, the headers). */
  binds: readonly string[];
  /** Working directory inside the root. */
  cwd: string;
  /** The command and its arguments, run inside the root. */
  argv: readonly string[];
}

// The script run inside a private mount namespace: mounts live only as long as the namespace, so
// they vanish when it ends, whatever happens (a failed build, a kill): the host never keeps them.
// It also unmounts them itself on a normal end. Arguments: ROOT CWD NBINDS BIND... -- ARGV...
const CHROOT_SCRIPT = [
  'set -eu',
  'R=$1; C=$2; N=$3; shift 3',
  'i=0; B=""',
  'while [ "$i" -lt "$N" ]; do B="$B $1"; shift; i=$((i+1)); done',
  'shift', // --
  'cleanup() { for b in $B; do umount -l "$R$b" 2>/dev/null || true; done; umount -l "$R/dev" 2>/dev/null || true; umount -l "$R/proc" 2>/dev/null || true; }',
  'trap cleanup EXIT',
  'mount -t proc proc "$R/proc"',
  'mount --rbind /dev "$R/dev"',
  'for b in $B; do mkdir -p "$R$b"; mount --bind "$b" "$R$b"; done',
  'status=0',
  'chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 /bin/sh -c \'cd "$0" && exec "$@"\' "$C" "$@" || status=$?',
  'exit $status',
].join('\n');

/** The host command (argv) that runs `run.argv` inside the build root. */
export function chrootCommand(run: ChrootRun): string[] {
  for (const b of run.binds) {
    if (!b.startsWith('/') || /\s/.test(b)) {
      throw new VmError('DAXMON_E_VM_CONFIG', `bind path "${b}" must be absolute and without spaces`);
    }
  }
  return [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    '--',
    '/bin/sh',
    '-c',
    CHROOT_SCRIPT,
    'daxmon-chroot',
    run.root,
    run.cwd,
    String(run.binds.length),
    ...run.binds,
    '--',
    ...run.argv,
  ];
}

/** Runs a command inside the build root; throws DAXMON_E_VM_BUILD with the output's tail on failure. */
export async function runInBuildRoot(run: ChrootRun, what: string): Promise<string> {
  const [cmd, ...args] = chrootCommand(run);
  const r = await execa(cmd as string, args, { all: true, reject: false });
  if (r.exitCode !== 0) {
    throw new VmError(
      'DAXMON_E_VM_BUILD',
      `${what} failed in the build root (exit ${r.exitCode}): ${(r.all ?? '').trim().split('\n').slice(-8).join(' | ')}`,
    );
  }
  return r.all ?? '';
}
