import { describe, expect, it } from 'vitest';
import { headerPackages } from '../../lab/src/headers.js';

describe('headerPackages', () => {
  it('takes the -common headers and kbuild from the Depends of linux-headers-REL, not the compiler', () => {
    // apt-cache show linux-headers-6.1.0-56-amd64 (bookworm-security, 6.1.192-2)
    const depends =
      'linux-headers-6.1.0-56-common (= 6.1.192-2), linux-kbuild-6.1 (>= 6.1.192-2), linux-compiler-gcc-12-x86';
    expect(headerPackages('6.1.0-56-amd64', depends)).toEqual([
      'linux-headers-6.1.0-56-amd64',
      'linux-headers-6.1.0-56-common',
      'linux-kbuild-6.1',
    ]);
  });

  it('with no Depends, only the headers package itself', () => {
    expect(headerPackages('7.3.4+deb13-amd64', '')).toEqual(['linux-headers-7.3.4+deb13-amd64']);
  });
});
