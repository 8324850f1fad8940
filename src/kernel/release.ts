/**
 * The running kernel's release (`uname -r`) and its numeric version. The version is only a
 * heuristic for the refcount model (docs/kernel-model.md §6 step 3): distributions backport, so
 * kallsyms and BTF are asked first.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface KernelVersion {
  major: number;
  minor: number;
  patch: number;
}

/**
 * Pure: the release in the text of /proc/sys/kernel/osrelease (one token and a newline); null
 * when it holds none (empty, or not a release: whitespace inside).
 */
export function parseOsRelease(text: string): string | null {
  const line = text.split('\n')[0]!.trim();
  return line.length > 0 && !/\s/.test(line) ? line : null;
}

/**
 * The release of the kernel whose /proc is at `procRoot`: its /proc/sys/kernel/osrelease (the
 * same string as `uname -r`, and what a fixture tree or a guest's /proc holds), else `uname()`
 * (the running kernel, os.release()) when that file is missing or says nothing.
 */
export function readRelease(procRoot = '/proc', uname: () => string = os.release): string {
  try {
    const r = parseOsRelease(readFileSync(path.join(procRoot, 'sys', 'kernel', 'osrelease'), 'utf8'));
    if (r !== null) return r;
  } catch {
    // No procfs there (a tree without it, an odd container): uname below still answers.
  }
  return uname();
}

/**
 * Leading `major.minor[.patch]` of a release string: "6.18.44-fc-v782" → 6.18.44,
 * "6.1.0-27-amd64" → 6.1.0, "7.3.4+deb13-amd64" → 7.3.4, "6.15-rc1" → 6.15.0. null if the
 * string does not start with a version (a custom LOCALVERSION-only build).
 */
export function parseKernelVersion(release: string): KernelVersion | null {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release.trim());
  if (!m) return null;
  return { major: Number(m[1]), minor: Number(m[2]), patch: m[3] === undefined ? 0 : Number(m[3]) };
}

export function compareKernelVersions(a: KernelVersion, b: KernelVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

export function versionAtLeast(v: KernelVersion, major: number, minor: number, patch = 0): boolean {
  return compareKernelVersions(v, { major, minor, patch }) >= 0;
}

export function formatKernelVersion(v: KernelVersion): string {
  return `${v.major}.${v.minor}.${v.patch}`;
}
