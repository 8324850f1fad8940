/**
 * Builds the fault-injection module (daxfi/) for a guest kernel against Debian's linux-headers of
 * that kernel (lab/src/headers.ts), into the cache (named by source hash and release; never into
 * the repo, never under /tmp, which the guest covers with a tmpfs). A kernel built with the host's
 * gcc (bookworm's 6.1) is built for on the host; one built with another (trixie's gcc 14: 6.12,
 * 7.3) in the trixie build root (lab/src/buildroot.ts), whose gcc is the kernel's own.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { KernelBuild } from '../../../lab/src/index.js';
import {
  VmError,
  ensureBuildRoot,
  ensureKernelHeaders,
  headersRootOf,
  moduleMakeArgs,
  runInBuildRoot,
} from '../../../lab/src/index.js';

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
    const kernelGcc = await kernelGccMajor(kbuild);
    if (kernelGcc !== null && kernelGcc !== (await hostGccMajor())) {
      const root = await ensureBuildRoot({ cacheDir });
      // The headers' Makefile includes the -common tree by its cache path: bind the whole root.
      const headersRoot = headersRootOf(kbuild);
      await runInBuildRoot(
        { root: root.dir, binds: [dir, headersRoot], cwd: dir, argv: moduleMakeArgs(kbuild, dir) },
        'make daxfi.ko',
      );
    } else {
      await execa('make', ['-C', kbuild, `M=${dir}`, 'modules'], { all: true });
    }
  } catch (err) {
    throw new VmError(
      'DAXMON_E_VM_BUILD',
      `building daxfi.ko for ${kernel.release} failed: ${(err as { all?: string }).all ?? String(err)}`,
      { cause: err },
    );
  }
  return ko;
}

/** The gcc major version the kernel was built with (its headers' CONFIG_GCC_VERSION), or null. */
async function kernelGccMajor(kbuild: string): Promise<number | null> {
  const config = await readFile(join(kbuild, '.config'), 'utf8').catch(() => '');
  const m = /^CONFIG_GCC_VERSION=(\d+)$/m.exec(config);
  return m ? Math.floor(Number(m[1]) / 10000) : null;
}

async function hostGccMajor(): Promise<number | null> {
  const r = await execa('gcc', ['-dumpversion'], { reject: false });
  const n = Number.parseInt(r.stdout, 10);
  return Number.isFinite(n) ? n : null;
}
