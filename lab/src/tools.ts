import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { VmError } from './errors.js';

/** Debian package that provides each host tool, for the error message. */
const TOOL_PACKAGES: Record<string, string> = {
  'apt-get': 'apt',
  'apt-cache': 'apt',
  dpkg: 'dpkg',
  depmod: 'kmod',
  'qemu-system-x86_64': 'qemu-system-x86',
  cpio: 'cpio',
  xz: 'xz-utils',
  zstd: 'zstd',
  flock: 'util-linux',
  gcc: 'gcc',
  debootstrap: 'debootstrap',
  chroot: 'coreutils',
  unshare: 'util-linux',
};

export async function findTool(
  name: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

export async function requireTools(names: readonly string[]): Promise<void> {
  const missing: string[] = [];
  for (const n of names) if (!(await findTool(n))) missing.push(n);
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((m) => TOOL_PACKAGES[m] ?? m))].join(' ');
    throw new VmError(
      'DAXMON_E_VM_TOOL_MISSING',
      `missing ${missing.join(', ')}; run scripts/install-deps.sh or apt-get install ${pkgs}`,
    );
  }
}

/** The static busybox the initramfs needs: a dynamic one would need the host's libc in the image. */
export const STATIC_BUSYBOX = '/bin/busybox';
