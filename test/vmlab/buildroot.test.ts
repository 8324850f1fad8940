import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildRootKey,
  chrootCommand,
  classifyDebootstrapFailure,
  debootstrapArgs,
  debootstrapPhase,
  defaultBuildRootSpec,
  ensureBuildRoot,
  parsePackageList,
  runInBuildRoot,
} from '../../lab/src/buildroot.js';
import { lockFile } from '../../lab/src/filelock.js';
import { VmError } from '../../lab/src/errors.js';

const spec = { suite: 'trixie', mirror: 'http://deb.debian.org/debian', packages: ['make', 'gcc-14', 'bc'] };

const scratch: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'daxmon-broot-'));
  scratch.push(d);
  return d;
}
afterAll(async () => {
  for (const d of scratch) await rm(d, { recursive: true, force: true });
});

describe('parsePackageList', () => {
  it('takes one a line or comma/space separated, drops comments, sorts and dedupes', () => {
    expect(parsePackageList('# tools\nmake\ngcc-14, bc  # calc\n\nlibelf-dev make\n')).toEqual([
      'bc',
      'gcc-14',
      'libelf-dev',
      'make',
    ]);
  });
  it('refuses what is not a package name', () => {
    expect(() => parsePackageList('make\n$(rm -rf /)')).toThrow(VmError);
  });
  it('the default list has the kernel compiler and kbuild tools', () => {
    const p = defaultBuildRootSpec().packages;
    for (const n of [
      'gcc-14',
      'make',
      'bc',
      'bison',
      'flex',
      'libelf-dev',
      'libssl-dev',
      'kmod',
      'libc6-dev',
    ])
      expect(p).toContain(n);
  });
});

describe('buildRootKey', () => {
  it('is the same for the same package set in any order, and names the suite', () => {
    const k = buildRootKey(spec);
    expect(k).toMatch(/^trixie-[0-9a-f]{16}$/);
    expect(buildRootKey({ ...spec, packages: ['bc', 'make', 'gcc-14', 'bc'] })).toBe(k);
    expect(buildRootKey({ ...spec, mirror: 'http://deb.debian.org/debian/' })).toBe(k);
  });
  it('changes with the suite, the mirror and the packages', () => {
    const k = buildRootKey(spec);
    expect(buildRootKey({ ...spec, suite: 'forky' })).not.toBe(k);
    expect(buildRootKey({ ...spec, mirror: 'http://ftp.de.debian.org/debian' })).not.toBe(k);
    expect(buildRootKey({ ...spec, packages: [...spec.packages, 'flex'] })).not.toBe(k);
  });
});

describe('debootstrap command and output', () => {
  it('builds a minbase root with the packages included', () => {
    expect(debootstrapArgs(spec, '/c/buildroot/.tmp')).toEqual([
      '--variant=minbase',
      '--include=bc,gcc-14,make',
      'trixie',
      '/c/buildroot/.tmp',
      'http://deb.debian.org/debian',
    ]);
  });
  it('turns debootstrap lines into one progress line per phase', () => {
    expect(debootstrapPhase('I: Retrieving Packages ')).toBe('fetching the package list');
    expect(debootstrapPhase('I: Extracting libc6...')).toBe('extracting packages');
    expect(debootstrapPhase('I: Unpacking the base system...')).toBe('unpacking packages');
    expect(debootstrapPhase('I: Base system installed successfully.')).toBe('done');
    expect(debootstrapPhase('I: Validating gcc-14 14.2.0-19')).toBeUndefined();
  });
  it('names the cause of a failure: disk full, mirror unreachable, anything else', () => {
    expect(classifyDebootstrapFailure('tar: ./usr/lib/gcc: Cannot write: No space left on device')).toBe(
      'DAXMON_E_VM_BUILDROOT_DISK',
    );
    expect(classifyDebootstrapFailure('E: Failed getting release file http://x/dists/trixie/Release')).toBe(
      'DAXMON_E_VM_BUILDROOT_MIRROR',
    );
    expect(classifyDebootstrapFailure('W: Failure trying to run: chroot ... dpkg --configure')).toBe(
      'DAXMON_E_VM_BUILDROOT',
    );
  });
});

describe('ensureBuildRoot', () => {
  it('refuses to build as non-root, with the catalogue code', async () => {
    const cacheDir = await tmp();
    await expect(ensureBuildRoot({ cacheDir, spec, uid: 1000 })).rejects.toMatchObject({
      code: 'DAXMON_E_VM_BUILDROOT_NOT_ROOT',
    });
  });
  it('reuses a root whose key matches without running debootstrap (even as non-root)', async () => {
    const cacheDir = await tmp();
    const dir = join(cacheDir, 'buildroot', buildRootKey(spec));
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, '.daxmon-buildroot.json'), '{}\n');
    const r = await ensureBuildRoot({ cacheDir, spec, uid: 1000 });
    expect(r).toMatchObject({ dir, fresh: false, key: buildRootKey(spec) });
  });
  it.skipIf(process.getuid?.() !== 0 || !existsSync('/usr/sbin/debootstrap'))(
    'an unreachable mirror is DAXMON_E_VM_BUILDROOT_MIRROR before debootstrap starts',
    async () => {
      const cacheDir = await tmp();
      await expect(
        ensureBuildRoot({ cacheDir, spec: { ...spec, mirror: 'http://127.0.0.1:9/debian' }, log: () => {} }),
      ).rejects.toMatchObject({ code: 'DAXMON_E_VM_BUILDROOT_MIRROR' });
    },
  );
});

describe('lockFile', () => {
  it('a second holder waits until the first releases', async () => {
    const d = await tmp();
    const a = await lockFile(join(d, 'l'));
    let waited = false;
    let gotB = false;
    const b = lockFile(join(d, 'l'), () => {
      waited = true;
    }).then((l) => {
      gotB = true;
      return l;
    });
    // onWait runs once the non-blocking attempt failed: B is queued behind A.
    await expect.poll(() => waited).toBe(true);
    expect(gotB).toBe(false);
    await a.release();
    await (await b).release();
    expect(gotB).toBe(true);
  });
});

describe('chrootCommand', () => {
  it('runs in a private mount namespace with the binds and the command as separate words', () => {
    const argv = chrootCommand({
      root: '/r',
      binds: ['/w', '/h'],
      cwd: '/w/m',
      argv: ['make', '-C', '/h/k'],
    });
    expect(argv.slice(0, 5)).toEqual(['unshare', '--mount', '--propagation', 'private', '--']);
    expect(argv.slice(8)).toEqual([
      'daxmon-chroot',
      '/r',
      '/w/m',
      '2',
      '/w',
      '/h',
      '--',
      'make',
      '-C',
      '/h/k',
    ]);
    expect(argv[7]).toMatch(/trap cleanup EXIT/);
  });
  it('refuses relative bind paths and paths with spaces', () => {
    expect(() => chrootCommand({ root: '/r', binds: ['w'], cwd: '/', argv: ['true'] })).toThrow(VmError);
    expect(() => chrootCommand({ root: '/r', binds: ['/a b'], cwd: '/', argv: ['true'] })).toThrow(VmError);
  });

  // A real chroot into a tiny root (static busybox): the bind is seen inside, and nothing stays
  // mounted on the host afterwards, also when the command fails.
  it.skipIf(process.getuid?.() !== 0 || !existsSync('/bin/busybox'))(
    'mounts /proc, /dev and the binds only while the command runs, also on failure',
    async () => {
      const root = await tmp();
      const work = await tmp();
      for (const d of ['bin', 'usr/bin', 'proc', 'dev']) await mkdir(join(root, d), { recursive: true });
      await copyFile('/bin/busybox', join(root, 'bin', 'busybox'));
      await symlink('busybox', join(root, 'bin', 'sh'));
      await symlink('/bin/busybox', join(root, 'usr', 'bin', 'env'));
      const ok = await runInBuildRoot(
        {
          root,
          binds: [work],
          cwd: work,
          argv: [
            '/bin/busybox',
            'sh',
            '-c',
            'test -e /proc/self/status && test -e /dev/null && echo in > out && pwd',
          ],
        },
        'probe',
      );
      expect(ok.trim()).toBe(work);
      expect(await readFile(join(work, 'out'), 'utf8')).toBe('in\n');
      await expect(
        runInBuildRoot(
          { root, binds: [work], cwd: work, argv: ['/bin/busybox', 'sh', '-c', 'exit 3'] },
          'fails',
        ),
      ).rejects.toMatchObject({ code: 'DAXMON_E_VM_BUILD', message: expect.stringMatching(/exit 3/) });
      expect(await readFile('/proc/self/mounts', 'utf8')).not.toContain(root);
    },
  );
});
