/**
 * Debian's linux-headers of a guest kernel, for building out-of-tree test modules on the host
 * (the fault-injection module of the violations VM test). Fetched with the series' private apt setup
 * (kernels.ts) and unpacked into the cache; nothing is installed.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { parseAptStanzas } from './apt-meta.js';
import { VmError } from './errors.js';
import type { KernelBuild, ResolveOptions } from './kernels.js';
import { aptDirs, aptLocked, aptOptions, findSeries } from './kernels.js';
import { defaultLogger } from './log.js';

/** The packages linux-headers-REL needs to build modules: itself, its -common and linux-kbuild-X. */
export function headerPackages(release: string, depends: string): string[] {
  const wanted = depends
    .split(',')
    .map((d) => d.trim().split(/\s+/)[0]!)
    .filter((p) => p.startsWith('linux-headers-') || p.startsWith('linux-kbuild-'));
  return [`linux-headers-${release}`, ...wanted];
}

/**
 * Returns the kbuild directory (`.../usr/src/linux-headers-REL`) for `make -C DIR M=... modules`.
 * The packaged Makefile includes the -common tree by absolute /usr/src path; it is pointed at the
 * unpacked copy instead.
 */
export async function ensureKernelHeaders(kernel: KernelBuild, opts: ResolveOptions): Promise<string> {
  const log = opts.log ?? defaultLogger;
  const final = join(
    opts.cacheDir,
    'headers',
    `${kernel.release}_${kernel.packageVersion.replace(/[^A-Za-z0-9.+-]/g, '_')}`,
  );
  const kbuild = join(final, 'root', 'usr', 'src', `linux-headers-${kernel.release}`);
  if (existsSync(join(final, 'ready'))) return kbuild;
  const d = aptDirs(opts.cacheDir, findSeries(kernel.series));
  const o = aptOptions(d);
  const show = parseAptStanzas(
    await aptLocked(d, [
      'apt-cache',
      ...o,
      'show',
      `linux-headers-${kernel.release}=${kernel.packageVersion}`,
    ]),
  )[0];
  if (!show)
    throw new VmError('DAXMON_E_VM_APT', `no linux-headers-${kernel.release} ${kernel.packageVersion}`);
  const pkgs = headerPackages(kernel.release, show.Depends ?? '');
  const work = join(opts.cacheDir, 'headers', `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(join(work, 'debs'), { recursive: true });
  try {
    log(`downloading ${pkgs.join(' ')}`);
    await aptLocked(d, ['apt-get', ...o, '-q', 'download', ...pkgs], join(work, 'debs'));
    for (const deb of await readdir(join(work, 'debs'))) {
      if (deb.endsWith('.deb')) await execa('dpkg', ['-x', join(work, 'debs', deb), join(work, 'root')]);
    }
    await rm(join(work, 'debs'), { recursive: true, force: true });
    const mk = join(work, 'root', 'usr', 'src', `linux-headers-${kernel.release}`, 'Makefile');
    const text = await readFile(mk, 'utf8');
    await writeFile(mk, text.replace(/\/usr\/src\//g, `${join(final, 'root', 'usr', 'src')}/`));
    await writeFile(join(work, 'ready'), `${pkgs.join(' ')}\n`);
    try {
      await rename(work, final);
    } catch (err) {
      if (!existsSync(join(final, 'ready'))) throw err;
    }
    return kbuild;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * The root the headers were unpacked into, for a build root's bind mounts: a kbuild directory's
 * Makefile includes the -common tree by its path under that root (`<root>/usr/src/linux-headers-R`).
 */
export function headersRootOf(kbuild: string): string {
  return dirname(dirname(dirname(kbuild)));
}
