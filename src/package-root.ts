/**
 * The daxmon package root (where package.json is), for the files daxmon ships beside its code:
 * bpf/build (the loader, the BPF objects, the scanner, the checker) and bpf/bpftrace. Walked up
 * to rather than assumed, because this file runs from src/ (tests, tsx), dist/ (built) and a
 * compiled copy in a temporary directory (test/cli/compiled-cli.ts).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  let dir = here;
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return path.resolve(here, '..');
}

export const PACKAGE_ROOT = findPackageRoot();
