/**
 * A kernel the developer built, booted by the lab exactly like Debian's: `--kernel IMAGE
 * [--modules DIR] [--config FILE]` or `--kernel-tree DIR` (a tree after `make`). The kernel's config
 * is checked against the one catalogue of required options (src/kernel/kconfig-options.ts) before
 * anything boots: a kernel without FS_DAX, ZONE_DEVICE, 9p or memmap= pmem would only time out in
 * qemu minutes later, so the lab refuses it now, naming the options to merge (`daxmon kconfig`).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { execa } from 'execa';
import { parseKernelConfig } from '../../src/kernel/config.js';
import { kconfigGaps } from '../../src/kernel/kconfig-fragment.js';
import { VmError } from './errors.js';
import type { KernelBuild } from './kernels.js';
import type { Logger } from './log.js';
import { defaultLogger } from './log.js';

export type UserKernelSource = { image: string; modules?: string; config?: string } | { tree: string };

/**
 * Pure: the release string an x86 bzImage carries (`uname -r`), from its setup header: the "HdrS"
 * magic at 0x202, protocol ≥ 2.00, and `kernel_version` at 0x20E, an offset from 0x200 of a
 * NUL-terminated "RELEASE (builder) #N ..." string (Documentation/arch/x86/boot.rst).
 */
export function bzImageRelease(head: Uint8Array): string | null {
  if (head.length < 0x210) return null;
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (dv.getUint32(0x202, true) !== 0x53726448) return null; // "HdrS"
  if (dv.getUint16(0x206, true) < 0x200) return null;
  const at = dv.getUint16(0x20e, true) + 0x200;
  if (at >= head.length) return null;
  let end = at;
  while (end < head.length && end - at < 256 && head[end] !== 0) end++;
  const text = Buffer.from(head.subarray(at, end)).toString('latin1');
  const release = text.split(' ')[0] ?? '';
  return /^\d+\.\d+[\w.+~-]*$/.test(release) ? release : null;
}

/** Pure: `7.3.4-dirty` → new (≥ 6.15, docs/kernel-model.md §6), `6.12.1` → old. */
export function modelOfRelease(release: string): 'old' | 'new' | null {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return null;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > 6 || (maj === 6 && min >= 15) ? 'new' : 'old';
}

/**
 * Pure: the options a kernel booted in the lab must have (every scope's required ones), as one
 * refusal message, or null when nothing is missing.
 */
export function configRefusal(configText: string, what: string): string | null {
  const gaps = kconfigGaps(parseKernelConfig(configText), { needs: ['required'] });
  if (gaps.length === 0) return null;
  const list = gaps
    .map((g) => `CONFIG_${g.option.key} (${g.found === null ? 'absent' : `=${g.found}`}: ${g.option.why})`)
    .join('; ');
  return (
    `${what} lacks what daxmon or the lab needs: ${list}. Merge the fragment and rebuild: ` +
    '`daxmon kconfig > daxmon.config && scripts/kconfig/merge_config.sh -m .config daxmon.config && make olddefconfig && make`'
  );
}

async function mustExist(file: string, what: string): Promise<void> {
  try {
    await stat(file);
  } catch (err) {
    throw new VmError(
      'DAXMON_E_VM_USER_KERNEL',
      `${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`,
    );
  }
}

/**
 * The release of a user's kernel without building anything (the matrix plans its boots before it
 * runs them): the bzImage's setup header, or the tree's include/config/kernel.release.
 */
export function userKernelRelease(src: UserKernelSource): string {
  if ('tree' in src) {
    const f = join(resolve(src.tree), 'include', 'config', 'kernel.release');
    const r = existsSync(f) ? readFileSync(f, 'utf8').trim() : '';
    if (!r)
      throw new VmError('DAXMON_E_VM_USER_KERNEL', `no ${f}: is ${src.tree} a kernel tree after \`make\`?`);
    return r;
  }
  const image = resolve(src.image);
  if (!existsSync(image))
    throw new VmError('DAXMON_E_VM_USER_KERNEL', `the kernel image ${image} does not exist`);
  return imageRelease(image);
}

/** The release in a bzImage's setup header (its first 64 KiB), or a DAXMON_E_VM_USER_KERNEL. */
function imageRelease(image: string): string {
  const head = new Uint8Array(0x10000);
  const fd = openSync(image, 'r');
  try {
    readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const release = bzImageRelease(head);
  if (release === null)
    throw new VmError(
      'DAXMON_E_VM_USER_KERNEL',
      `${image} is not an x86 bzImage (no "HdrS" setup header with a version string): give arch/x86/boot/bzImage, not vmlinux`,
    );
  return release;
}

/**
 * Pure: the Debian series whose scenario truths a user's kernel is judged by (what each kernel
 * generation does unseen, docs/kernel-model.md): its own major.minor when the lab knows it (6.1,
 * 6.12), 7 for 7.x and any other new-model kernel, 6.12 for any other old-model one.
 */
export function truthSeriesOf(release: string, known: readonly string[]): string {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (m && known.includes(`${m[1]}.${m[2]}`)) return `${m[1]}.${m[2]}`;
  if (m && known.includes(m[1]!)) return m[1]!;
  return modelOfRelease(release) === 'new' ? '7' : '6.12';
}

export interface UserKernelOptions {
  cacheDir: string;
  log?: Logger;
}

/**
 * The KernelBuild of a user's kernel. Modules are installed (tree: `make modules_install`) or copied
 * into the cache with modules.dep generated there, keyed by the image's and config's hash, so the
 * user's own folders are never written to. A kernel with CONFIG_MODULES off has no modules: the
 * initramfs then loads none and every driver must be built in (the config check made sure of it).
 */
export async function ensureUserKernel(src: UserKernelSource, opts: UserKernelOptions): Promise<KernelBuild> {
  const log = opts.log ?? defaultLogger;
  let image: string;
  let configFile: string | undefined;
  let modulesSrc: string | undefined;
  let tree: string | undefined;
  if ('tree' in src) {
    tree = resolve(src.tree);
    image = join(tree, 'arch', 'x86', 'boot', 'bzImage');
    configFile = join(tree, '.config');
    await mustExist(image, 'no bzImage in the tree (run `make` first):');
    await mustExist(configFile, 'no .config in the tree:');
  } else {
    image = resolve(src.image);
    await mustExist(image, 'the kernel image');
    if (src.modules !== undefined) {
      modulesSrc = resolve(src.modules);
      await mustExist(modulesSrc, 'the modules folder');
    }
    configFile =
      src.config !== undefined
        ? resolve(src.config)
        : [modulesSrc && join(modulesSrc, 'config'), modulesSrc && join(modulesSrc, 'build', '.config')].find(
            (f): f is string => typeof f === 'string' && existsSync(f),
          );
    if (configFile === undefined) {
      throw new VmError(
        'DAXMON_E_VM_USER_KERNEL',
        `no config for ${image}: give --config FILE (the .config it was built from), so the lab can check it before booting`,
      );
    }
    await mustExist(configFile, 'the kernel config');
  }
  const release = imageRelease(image);
  const model = modelOfRelease(release);
  if (model === null)
    throw new VmError('DAXMON_E_VM_USER_KERNEL', `cannot read a version from release "${release}"`);
  const configText = await readFile(configFile, 'utf8');
  const refusal = configRefusal(configText, `kernel ${release} (${configFile})`);
  if (refusal) throw new VmError('DAXMON_E_VM_KERNEL_CONFIG', refusal);
  const withModules = parseKernelConfig(configText).get('MODULES') === 'y';

  const key = createHash('sha256')
    .update(await readFile(image))
    .update(configText)
    .update(modulesSrc ?? tree ?? '')
    .digest('hex')
    .slice(0, 16);
  const finalDir = join(opts.cacheDir, 'user-kernels', `${release}-${key}`);
  const done = join(finalDir, 'kernel.json');
  if (existsSync(done)) return JSON.parse(await readFile(done, 'utf8')) as KernelBuild;

  const work = `${finalDir}.tmp-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  const root = join(work, 'root');
  const modulesDir = join(root, 'lib', 'modules', release);
  await mkdir(modulesDir, { recursive: true });
  try {
    if (withModules && tree) {
      log(`installing the modules of ${tree} into the lab cache (make modules_install)`);
      await execa(
        'make',
        ['-C', tree, 'modules_install', `INSTALL_MOD_PATH=${root}`, 'INSTALL_MOD_STRIP=1'],
        {
          stdout: 'ignore',
        },
      );
    } else if (withModules && modulesSrc) {
      if (basename(modulesSrc) !== release) {
        log(`modules folder ${modulesSrc} is not named ${release}; using it for release ${release}`);
      }
      await execa('cp', ['-a', '--no-preserve=ownership', `${modulesSrc}/.`, modulesDir]);
    } else if (withModules) {
      throw new VmError(
        'DAXMON_E_VM_USER_KERNEL',
        `kernel ${release} is built with CONFIG_MODULES=y: give --modules DIR (lib/modules/${release} after make modules_install) or use --kernel-tree`,
      );
    }
    if (!withModules)
      await writeFile(join(modulesDir, 'modules.dep'), ''); // every driver built in
    else {
      // The user's folder may have no modules.dep (copied before depmod ran); the initramfs needs it.
      await execa('depmod', ['-b', root, release]);
      const entries = await readdir(modulesDir);
      if (!entries.includes('modules.dep')) {
        throw new VmError('DAXMON_E_VM_USER_KERNEL', `depmod wrote no modules.dep in ${modulesDir}`);
      }
    }
    // A copy: the user's tree moves on (the next `make`), the cache entry is keyed by this image.
    await execa('cp', [image, join(work, 'vmlinuz')]);
    const build: KernelBuild = {
      series: 'user',
      model,
      release,
      packageVersion: `user-${key}`,
      vmlinuz: join(finalDir, 'vmlinuz'),
      modulesDir: modulesDir.replace(work, finalDir),
      root: root.replace(work, finalDir),
    };
    await writeFile(join(work, 'kernel.json'), JSON.stringify(build, null, 2) + '\n');
    await rm(finalDir, { recursive: true, force: true });
    await rename(work, finalDir);
    log(`user kernel ${release} (${model} refcount model) checked and ready`);
    return build;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
