/**
 * The running kernel's release (`uname -r`) and its numeric version. The version is only a
 * heuristic for the refcount model (docs/kernel-model.md §6 step 3): distributions backport, so
 * kallsyms and BTF are asked first.
 */
import os from 'node:os';

export interface KernelVersion {
  major: number;
  minor: number;
  patch: number;
}

/** `uname -r` of the running kernel. */
export function readRelease(): string {
  return os.release();
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
