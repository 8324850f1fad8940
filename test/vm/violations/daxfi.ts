/**
 * Builds the fault-injection module (daxfi/) for a guest kernel on the host, against Debian's
 * linux-headers of that kernel (lab/src/headers.ts), into the cache (named by source hash and
 * release; never into the repo, never under /tmp, which the guest covers with a tmpfs).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { KernelBuild } from '../../../lab/src/index.js';
import { VmError, ensureKernelHeaders } from '../../../lab/src/index.js';

const SRC = join(dirname(fileURLToPath(import.meta.url)), 'daxfi');

export async function buildDaxfi(kernel: KernelBuild, cacheDir: string): Promise<string> {
  const files = ['daxfi.c', 'Kbuild'];
  const h = createHash('sha256');
  for (const f of files) h.update(await readFile(join(SRC, f)));
  const dir = join(cacheDir, 'build', `daxfi-${h.digest('hex').slice(0, 16)}-${kernel.release}`);
  const ko = join(dir, 'daxfi.ko');
  if (existsSync(ko)) return ko;
  const kbuild = await ensureKernelHeaders(kernel, { cacheDir });
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  for (const f of files) await copyFile(join(SRC, f), join(dir, f));
  try {
    await execa('make', ['-C', kbuild, `M=${dir}`, 'modules'], { all: true });
  } catch (err) {
    throw new VmError(
      'DAXMON_E_VM_BUILD',
      `building daxfi.ko for ${kernel.release} failed: ${(err as { all?: string }).all ?? String(err)}`,
      { cause: err },
    );
  }
  return ko;
}
