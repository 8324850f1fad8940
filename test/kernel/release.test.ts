import os from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  compareKernelVersions,
  parseKernelVersion,
  readRelease,
  versionAtLeast,
} from '../../src/kernel/release.js';

describe('kernel release', () => {
  it('is uname -r', () => {
    expect(readRelease()).toBe(os.release());
  });

  it.each([
    ['6.18.44-fc-v782', { major: 6, minor: 18, patch: 44 }],
    ['6.1.0-27-amd64', { major: 6, minor: 1, patch: 0 }],
    ['7.3.4+deb13-amd64', { major: 7, minor: 3, patch: 4 }],
    ['6.15-rc1', { major: 6, minor: 15, patch: 0 }],
    ['6.12.117+deb13-amd64', { major: 6, minor: 12, patch: 117 }],
  ])('parses %s', (release, expected) => {
    expect(parseKernelVersion(release)).toEqual(expected);
  });

  it('returns null for a release without a version', () => {
    expect(parseKernelVersion('custom-kernel')).toBeNull();
  });

  it('compares numerically, not as strings', () => {
    const v = (s: string) => parseKernelVersion(s)!;
    expect(compareKernelVersions(v('6.9.0'), v('6.15.0'))).toBeLessThan(0);
    expect(versionAtLeast(v('6.15.0'), 6, 15)).toBe(true);
    expect(versionAtLeast(v('6.14.11'), 6, 15)).toBe(false);
    expect(versionAtLeast(v('7.0.0'), 6, 15)).toBe(true);
  });
});
