import { describe, expect, it } from 'vitest';
import {
  DEBUG_LOCALVERSION,
  debugConfigScript,
  debugKernelKey,
  lsmodFor,
} from '../../lab/src/debug-kernel.js';

const DEP = [
  'kernel/fs/xfs/xfs.ko.xz: kernel/lib/libcrc32c.ko.xz',
  'kernel/lib/libcrc32c.ko.xz:',
  'kernel/drivers/nvdimm/nd_pmem.ko.xz: kernel/drivers/nvdimm/nd_btt.ko.xz kernel/drivers/nvdimm/libnvdimm.ko.xz',
  'kernel/drivers/nvdimm/nd_btt.ko.xz: kernel/drivers/nvdimm/libnvdimm.ko.xz',
  'kernel/drivers/nvdimm/libnvdimm.ko.xz:',
  'kernel/sound/snd.ko.xz:',
  'kernel/fs/9p/9p.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/fs/netfs/netfs.ko.xz',
  'kernel/net/9p/9pnet.ko.xz:',
  'kernel/fs/netfs/netfs.ko.xz:',
].join('\n');

describe('the debug kernel recipe', () => {
  it('lists the wanted modules and everything they need for localmodconfig, nothing else', () => {
    const text = lsmodFor(DEP, ['xfs', 'nd_pmem', '9p', 'not_in_this_kernel']);
    const lines = text.trim().split('\n');
    expect(lines[0]).toMatch(/^Module\s+Size\s+Used by$/);
    expect(lines.slice(1).map((l) => l.split(' ')[0])).toEqual([
      '9p',
      '9pnet',
      'libcrc32c',
      'libnvdimm',
      'nd_btt',
      'nd_pmem',
      'netfs',
      'xfs',
    ]);
    expect(text).not.toContain('snd');
  });

  it('narrows Debian’s config first, merges the fragment on top, and turns off what cannot be built here', () => {
    const s = debugConfigScript();
    const order = [
      'localmodconfig',
      'merge_config.sh -m .config ../daxmon.config',
      'scripts/config',
      'olddefconfig',
    ];
    const at = order.map((x) => s.indexOf(x));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(s).toContain('--disable MODULE_SIG');
    expect(s).toContain('--disable SECURITY_LOCKDOWN_LSM'); // it selects MODULE_SIG
    expect(s).toContain(`--set-str LOCALVERSION '${DEBUG_LOCALVERSION}'`);
    expect(s).toContain('CC=gcc-14');
  });

  it('is rebuilt when any input changes, and only then', () => {
    const k = { sourceSha256: 'a', baseConfig: 'c', fragment: 'f', lsmod: 'l', buildRootKey: 'r' };
    expect(debugKernelKey(k)).toBe(debugKernelKey({ ...k }));
    for (const field of Object.keys(k) as (keyof typeof k)[])
      expect(debugKernelKey({ ...k, [field]: 'x' }), field).not.toBe(debugKernelKey(k));
  });
});
