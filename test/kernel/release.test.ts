import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  compareKernelVersions,
  parseKernelVersion,
  parseOsRelease,
  readRelease,
  versionAtLeast,
} from '../../src/kernel/release.js';
import { fixture } from './helpers/fixtures.js';

const NOWHERE = '/nonexistent-daxmon-root';
const never = (): string => {
  throw new Error('uname must not be asked when osrelease answers');
};

async function procWith(osrelease: string): Promise<string> {
  const proc = await mkdtemp(path.join(os.tmpdir(), 'daxmon-proc-'));
  await mkdir(path.join(proc, 'sys', 'kernel'), { recursive: true });
  await writeFile(path.join(proc, 'sys', 'kernel', 'osrelease'), osrelease);
  return proc;
}

describe('kernel release', () => {
  it.each([
    ['host-6.18', '6.18.44-fc-v669'],
    ['new-7.3', '7.3.4+deb13-amd64'],
    ['old-6.12', '6.12.118+deb13-amd64'],
    ['old-6.1', '6.1.0-56-amd64'],
  ])('is /proc/sys/kernel/osrelease of the %s tree', (tree, release) => {
    expect(readRelease(fixture(tree, 'proc'), never)).toBe(release);
  });

  it('falls back to uname when the tree has no osrelease, or an empty one', async () => {
    expect(readRelease(NOWHERE, () => '6.99.0-uname')).toBe('6.99.0-uname');
    expect(readRelease(await procWith('\n'), () => '6.99.0-uname')).toBe('6.99.0-uname');
    expect(readRelease(fixture('pmem', 'proc'), () => '6.99.0-uname')).toBe('6.99.0-uname');
  });

  it('reads only the first line, without its newline or padding', async () => {
    expect(readRelease(await procWith('  7.3.4+deb13-amd64  \nsomething else\n'), never)).toBe(
      '7.3.4+deb13-amd64',
    );
  });

  it('osrelease text that is not one release token is no release', () => {
    expect(parseOsRelease('')).toBeNull();
    expect(parseOsRelease('\n')).toBeNull();
    expect(parseOsRelease('Linux version 6.1.0 (gcc)\n')).toBeNull();
    expect(parseOsRelease('6.1.0-56-amd64')).toBe('6.1.0-56-amd64');
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
