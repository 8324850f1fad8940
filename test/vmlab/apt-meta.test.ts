import { describe, expect, it } from 'vitest';
import {
  dependsNames,
  parseAptStanzas,
  payloadPackages,
  pickNewestMeta,
  releaseFromImagePackage,
} from '../../lab/src/apt-meta.js';
import { compareDebVersions } from '../../lab/src/debversion.js';

// Trimmed `apt-cache show linux-image-amd64` output as seen with trixie, trixie-security,
// trixie-backports, bookworm and bookworm-security in one sources list.
const META = `Package: linux-image-amd64
Version: 7.3.4-1~bpo13+1
Depends: linux-base-amd64 (= 7.3.4-1~bpo13+1), linux-image-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1), linux-modules-amd64 (= 7.3.4-1~bpo13+1)

Package: linux-image-amd64
Version: 7.2.12-1~bpo13+1
Depends: linux-image-7.2.12+deb13-amd64 (= 7.2.12-1~bpo13+1)

Package: linux-image-amd64
Version: 6.12.118-1
Depends: linux-image-6.12.118+deb13-amd64 (= 6.12.118-1)

Package: linux-image-amd64
Version: 6.12.117-1
Depends: linux-image-6.12.117+deb13-amd64 (= 6.12.117-1)

Package: linux-image-amd64
Version: 6.1.192-2
Depends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)

Package: linux-image-amd64
Version: 6.1.176-1
Depends: linux-image-6.1.0-50-amd64 (= 6.1.176-1)
`;

describe('apt version selection', () => {
  it('orders Debian versions the way dpkg does', () => {
    expect(compareDebVersions('7.3.4-1~bpo13+1', '7.3.4-1')).toBeLessThan(0);
    expect(compareDebVersions('6.1.192-2', '6.1.176-1')).toBeGreaterThan(0);
    expect(compareDebVersions('6.12.118-1', '6.12.99-1')).toBeGreaterThan(0);
    expect(compareDebVersions('1:1.0-1', '2.0-1')).toBeGreaterThan(0);
    expect(compareDebVersions('1.0~rc1-1', '1.0-1')).toBeLessThan(0);
    expect(compareDebVersions('1.0a-1', '1.0-1')).toBeGreaterThan(0);
    expect(compareDebVersions('6.12.118-1', '6.12.118-1')).toBe(0);
  });

  it('picks the newest meta package of each series and the image it names', () => {
    const stanzas = parseAptStanzas(META);
    expect(pickNewestMeta(stanzas, '7')).toEqual({
      version: '7.3.4-1~bpo13+1',
      imagePackage: 'linux-image-7.3.4+deb13-amd64',
    });
    expect(pickNewestMeta(stanzas, '6.12')?.imagePackage).toBe('linux-image-6.12.118+deb13-amd64');
    // 6.1's ABI name (6.1.0-56) does not contain its upstream version: the meta package is the link.
    expect(pickNewestMeta(stanzas, '6.1')?.imagePackage).toBe('linux-image-6.1.0-56-amd64');
    expect(pickNewestMeta(stanzas, '5.10')).toBeUndefined();
  });

  it('does not mistake 6.12 for 6.1', () => {
    const only612 = parseAptStanzas(META).filter((s) => s.Version?.startsWith('6.12'));
    expect(pickNewestMeta(only612, '6.1')).toBeUndefined();
  });

  it('downloads linux-binary and linux-modules for 7.x and the image itself before', () => {
    const split = parseAptStanzas(`Package: linux-image-7.3.4+deb13-amd64
Depends: dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, linux-base-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1), linux-binary-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1), linux-modules-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1)
`)[0];
    expect(payloadPackages(split ?? {})).toEqual([
      'linux-binary-7.3.4+deb13-amd64',
      'linux-modules-7.3.4+deb13-amd64',
    ]);
    const whole = parseAptStanzas(`Package: linux-image-6.12.118+deb13-amd64
Depends: kmod, initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool
`)[0];
    expect(payloadPackages(whole ?? {})).toEqual(['linux-image-6.12.118+deb13-amd64']);
  });

  it('derives uname -r from the image package', () => {
    expect(releaseFromImagePackage('linux-image-6.1.0-56-amd64')).toBe('6.1.0-56-amd64');
    expect(releaseFromImagePackage('linux-image-6.12.118+deb13-amd64-unsigned')).toBe('6.12.118+deb13-amd64');
    expect(dependsNames('a (>= 1) | b, c')).toEqual(['a', 'c']);
  });
});
