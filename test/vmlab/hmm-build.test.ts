import { describe, expect, it } from 'vitest';
import {
  hmmBuildKey,
  hmmTestsCompileArgs,
  moduleMakeArgs,
  sourceMembers,
  sourcePackageName,
  vermagicOf,
} from '../../lab/src/hmm.js';
import { coherentParams, renderHmmJob } from '../vm/hmm/job.js';

const k = {
  release: '7.3.4+deb13-amd64',
  packageVersion: '7.3.4-1~bpo13+1',
  sourceSha256: '703e369ddd4cce971452f5a593ee55df3a5c10c83caf0fa0df039633ed181ee3',
  buildRootKey: 'trixie-32c029f5527c7f8d',
};

describe('test_hmm build inputs', () => {
  it('finds the source package of a kernel version', () => {
    expect(sourcePackageName('7.3.4-1~bpo13+1')).toBe('linux-source-7.3');
    expect(sourcePackageName('6.12.118-1')).toBe('linux-source-6.12');
    expect(() => sourcePackageName('garbage')).toThrow();
  });
  it('the cache key changes with the kernel, the source deb checksum and the build root', () => {
    const key = hmmBuildKey(k);
    expect(key).toMatch(/^7\.3\.4\+deb13-amd64_[0-9a-f]{12}$/);
    expect(hmmBuildKey({ ...k })).toBe(key);
    expect(hmmBuildKey({ ...k, sourceSha256: 'ff'.repeat(32) })).not.toBe(key);
    expect(hmmBuildKey({ ...k, packageVersion: '7.3.5-1~bpo13+1' })).not.toBe(key);
    expect(hmmBuildKey({ ...k, buildRootKey: 'trixie-0000000000000000' })).not.toBe(key);
  });
  it('unpacks only the driver, the mm selftests and their headers', () => {
    expect(sourceMembers('linux-source-7.3')).toContain('linux-source-7.3/lib/test_hmm.c');
    expect(sourceMembers('linux-source-7.3')).toContain('linux-source-7.3/tools/testing/selftests/mm/*');
  });
  it('builds the module against the headers and hmm-tests statically with gcc-14', () => {
    expect(moduleMakeArgs('/c/h/usr/src/linux-headers-R', '/w/module')).toEqual([
      'make',
      '-C',
      '/c/h/usr/src/linux-headers-R',
      'M=/w/module',
      'modules',
    ]);
    const cc = hmmTestsCompileArgs('/s', '/o/hmm-tests');
    expect(cc[0]).toBe('gcc-14');
    expect(cc).toContain('-static');
    expect(cc).toContain('/s/tools/testing/selftests/mm/hmm-tests.c');
    expect(cc.slice(-2)).toEqual(['-o', '/o/hmm-tests']);
  });
  it('reads the vermagic from modinfo', () => {
    expect(
      vermagicOf('name:           test_hmm\nvermagic:       7.3.4+deb13-amd64 SMP preempt mod_unload \n'),
    ).toBe('7.3.4+deb13-amd64 SMP preempt mod_unload');
    expect(vermagicOf('name: x\n')).toBeUndefined();
  });
});

describe('the HMM guest job', () => {
  const o = {
    node: '/n',
    repoDir: '/r',
    module: '/m/test_hmm.ko',
    tests: '/m/hmm-tests',
    runTimeoutSeconds: 60,
  };
  it('runs hmm-tests without and then with daxmon; coherent only when a range is given', () => {
    const job = renderHmmJob(o);
    expect(job.indexOf('"$H/plain.tap"')).toBeGreaterThan(-1);
    expect(job.indexOf('"$H/plain.tap"')).toBeLessThan(job.indexOf('dist/cli.js run --backend libbpf'));
    expect(job.indexOf('dist/cli.js run --backend libbpf')).toBeLessThan(job.indexOf('"$H/daxmon.tap"'));
    expect(job).not.toContain('spm_addr_dev0');
    const c = renderHmmJob({ ...o, coherent: { dev0: 0x1_0000_0000, dev1: 0x1_1000_0000 } });
    expect(c).toContain(
      '/usr/sbin/insmod /m/test_hmm.ko spm_addr_dev0=0x100000000 spm_addr_dev1=0x110000000',
    );
  });
  it('coherentFromStart loads the coherent devices before the first run and skips the reload', () => {
    const c = renderHmmJob({
      ...o,
      coherent: { dev0: 0x1_0000_0000, dev1: 0x1_1000_0000 },
      coherentFromStart: true,
    });
    const load = c.indexOf('/usr/sbin/insmod /m/test_hmm.ko spm_addr_dev0=0x100000000');
    expect(load).toBeGreaterThan(-1);
    expect(load).toBeLessThan(c.indexOf('"$H/plain.tap"'));
    expect(c).not.toContain('rmmod');
  });
  it('coherentParams are the module parameters in hex', () => {
    expect(coherentParams({ dev0: 0x1_0000_0000, dev1: 0x1_1000_0000 })).toBe(
      'spm_addr_dev0=0x100000000 spm_addr_dev1=0x110000000',
    );
  });
});
