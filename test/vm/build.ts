import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { VmError } from '../../src/vmlab/errors.js';

const here = dirname(fileURLToPath(import.meta.url));
export const DAXWL_SOURCE = join(here, 'workloads', 'daxwl.c');

/**
 * Compiles daxwl on the host into the cache (never the repo), named by the source hash so concurrent
 * test processes share one binary. The guest runs it through the 9p view of the host's root, so it
 * must not live under /tmp, which the guest covers with a tmpfs.
 */
export async function buildDaxwl(cacheDir: string): Promise<string> {
  const src = await readFile(DAXWL_SOURCE);
  const hash = createHash('sha256').update(src).digest('hex').slice(0, 16);
  const dir = join(cacheDir, 'build', `daxwl-${hash}`);
  const out = join(dir, 'daxwl');
  if (existsSync(out)) return out;
  await mkdir(dir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    await execa('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-static', '-o', tmp, DAXWL_SOURCE], {
      all: true,
    });
  } catch (err) {
    throw new VmError(
      'DAXMON_E_VM_BUILD',
      `gcc failed on ${DAXWL_SOURCE}: ${(err as { all?: string }).all ?? String(err)}; is gcc installed (scripts/install-deps.sh)?`,
      { cause: err },
    );
  }
  await rename(tmp, out);
  return out;
}
