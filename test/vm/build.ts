import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { VmError } from '../../lab/src/errors.js';

const here = dirname(fileURLToPath(import.meta.url));
export const DAXWL_SOURCE = join(here, 'workloads', 'daxwl.c');

/**
 * Compiles a workload (one static C file) on the host into the cache (never the repo), named by the
 * source hash so concurrent test processes share one binary. The guest runs it through the 9p view
 * of the host's root, so it must not live under /tmp, which the guest covers with a tmpfs.
 */
export async function buildWorkload(cacheDir: string, source: string): Promise<string> {
  const name = basename(source, '.c');
  const src = await readFile(source);
  const hash = createHash('sha256').update(src).digest('hex').slice(0, 16);
  const dir = join(cacheDir, 'build', `${name}-${hash}`);
  const out = join(dir, name);
  if (existsSync(out)) return out;
  await mkdir(dir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    await execa('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-static', '-o', tmp, source], {
      all: true,
    });
  } catch (err) {
    throw new VmError(
      'DAXMON_E_VM_BUILD',
      `gcc failed on ${source}: ${(err as { all?: string }).all ?? String(err)}; is gcc installed (scripts/install-deps.sh)?`,
      { cause: err },
    );
  }
  await rename(tmp, out);
  return out;
}

export const buildDaxwl = (cacheDir: string): Promise<string> => buildWorkload(cacheDir, DAXWL_SOURCE);
