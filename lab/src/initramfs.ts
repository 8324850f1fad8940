import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { VmError } from './errors.js';
import type { KernelBuild } from './kernels.js';
import { moduleLoadOrder, parseModulesDep } from './modules-dep.js';
import { STATIC_BUSYBOX, requireTools } from './tools.js';

/**
 * Modules the guest loads before it can mount anything. Names that are built into a given kernel are
 * simply not found in its modules.dep and skipped (virtio_pci is a module only in 6.1; crc32c and
 * libcrc32c are modules in 6.1 and built in later).
 */
export const GUEST_MODULES: readonly string[] = [
  'virtio_pci',
  'virtio_net',
  'crc32c_generic',
  'libcrc32c',
  'netfs',
  '9pnet',
  '9pnet_virtio',
  '9p',
  'libnvdimm',
  'nd_btt',
  'nd_pmem',
  'nd_e820',
  'nfit',
  'device_dax',
  'dax_pmem',
  'ext4',
  'xfs',
  // a block device that takes O_DIRECT without storing anything, for pin-by-GUP scenarios
  'null_blk',
];

async function decompressInto(src: string, dest: string): Promise<void> {
  if (src.endsWith('.xz')) await execa('xz', ['-dc', src], { stdout: { file: dest } });
  else if (src.endsWith('.zst')) await execa('zstd', ['-dcq', src], { stdout: { file: dest } });
  else if (src.endsWith('.gz')) await execa('gzip', ['-dc', src], { stdout: { file: dest } });
  else await copyFile(src, dest);
}

export interface InitramfsOptions {
  kernel: KernelBuild;
  /** The busybox script that becomes /init. */
  init: string;
  cacheDir: string;
  modules?: readonly string[];
}

export interface Initramfs {
  path: string;
  modules: string[];
  builtinOrMissing: string[];
}

/**
 * Builds (or reuses) an uncompressed newc initramfs: static busybox, /init, and the kernel's own
 * modules decompressed in dependency order. Uncompressed because unpacking gzip under software
 * emulation costs seconds on every boot, and the image is only ~20 MiB.
 */
export async function ensureInitramfs(opts: InitramfsOptions): Promise<Initramfs> {
  await requireTools(['cpio', 'xz', 'zstd']);
  if (!existsSync(STATIC_BUSYBOX)) {
    throw new VmError(
      'DAXMON_E_VM_TOOL_MISSING',
      `${STATIC_BUSYBOX} missing; apt-get install busybox-static`,
    );
  }
  const depText = await readFile(join(opts.kernel.modulesDir, 'modules.dep'), 'utf8');
  const { order, notModules } = moduleLoadOrder(parseModulesDep(depText), opts.modules ?? GUEST_MODULES);
  const hash = createHash('sha256')
    .update(opts.kernel.release)
    .update(opts.kernel.packageVersion)
    .update(opts.init)
    .update(order.join('\n'))
    .digest('hex')
    .slice(0, 16);
  const dir = join(opts.cacheDir, 'initramfs');
  const out = join(dir, `${opts.kernel.release}-${hash}.cpio`);
  const names = order.map((p) => basename(p).replace(/\.(xz|zst|gz)$/, ''));
  if (existsSync(out)) return { path: out, modules: names, builtinOrMissing: notModules };

  const work = join(dir, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    for (const d of ['bin', 'proc', 'sys', 'dev', 'host', 'mods', 'results', 'tmp']) {
      await mkdir(join(work, d), { recursive: true });
    }
    await copyFile(STATIC_BUSYBOX, join(work, 'bin', 'busybox'));
    await chmod(join(work, 'bin', 'busybox'), 0o755);
    for (const rel of order) {
      await decompressInto(
        join(opts.kernel.modulesDir, rel),
        join(work, 'mods', basename(rel).replace(/\.(xz|zst|gz)$/, '')),
      );
    }
    await writeFile(join(work, 'mods', 'order'), names.join('\n') + '\n');
    await writeFile(join(work, 'init'), opts.init, { mode: 0o755 });
    const tmpOut = `${work}.cpio`;
    const list = await execa('find', ['.', '-mindepth', '1'], { cwd: work });
    await execa('cpio', ['-o', '-H', 'newc', '-R', '0:0', '--quiet'], {
      cwd: work,
      input: list.stdout + '\n',
      stdout: { file: tmpOut },
    });
    await rename(tmpOut, out);
  } catch (err) {
    if (err instanceof VmError) throw err;
    throw new VmError('DAXMON_E_VM_INITRAMFS', `building ${out} failed: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    await rm(work, { recursive: true, force: true });
    await rm(`${work}.cpio`, { force: true });
  }
  return { path: out, modules: names, builtinOrMissing: notModules };
}
