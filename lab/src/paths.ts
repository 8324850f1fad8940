import { homedir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { VmError } from './errors.js';

/**
 * Where kernels, initramfs images, workload builds and run folders live. Never inside the repo: the
 * kernels alone are hundreds of MiB and CI's clone must not pick them up.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.DAXMON_CACHE;
  if (fromEnv && fromEnv.length > 0) return resolve(fromEnv);
  return join(homedir(), '.cache', 'daxmon');
}

export function isInside(child: string, parent: string): boolean {
  const rel = relative(resolve(parent), resolve(child));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

export function assertCacheOutsideRepo(cacheDir: string, repoDir: string | undefined): void {
  if (repoDir && isInside(cacheDir, repoDir)) {
    throw new VmError(
      'DAXMON_E_VM_CONFIG',
      `the cache dir ${cacheDir} is inside the repository ${repoDir}; set DAXMON_CACHE to a folder outside it`,
    );
  }
}
