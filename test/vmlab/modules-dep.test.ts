import { describe, expect, it } from 'vitest';
import { moduleLoadOrder, moduleName, parseModulesDep } from '../../lab/src/modules-dep.js';

// Shaped like 6.12's modules.dep: dependencies listed in an order that is not load order.
const DEP = `kernel/fs/xfs/xfs.ko.xz: kernel/lib/libcrc32c.ko.xz
kernel/lib/libcrc32c.ko.xz:
kernel/fs/9p/9p.ko.xz: kernel/fs/netfs/netfs.ko.xz kernel/net/9p/9pnet.ko.xz
kernel/net/9p/9pnet_virtio.ko.xz: kernel/net/9p/9pnet.ko.xz
kernel/net/9p/9pnet.ko.xz:
kernel/fs/netfs/netfs.ko.xz:
kernel/drivers/nvdimm/nd_pmem.ko.xz: kernel/drivers/dax/dax.ko.xz kernel/drivers/nvdimm/libnvdimm.ko.xz kernel/drivers/nvdimm/nd_btt.ko.xz
kernel/drivers/nvdimm/nd_btt.ko.xz: kernel/drivers/nvdimm/libnvdimm.ko.xz
kernel/drivers/nvdimm/libnvdimm.ko.xz:
kernel/drivers/dax/dax.ko.xz:
`;

describe('modules.dep ordering', () => {
  it('loads every dependency before its dependant, each once', () => {
    const { order, notModules } = moduleLoadOrder(parseModulesDep(DEP), [
      '9pnet_virtio',
      '9p',
      'nd_pmem',
      'xfs',
      'virtio_pci',
    ]);
    const names = order.map(moduleName);
    expect(names).toEqual([
      '9pnet',
      '9pnet_virtio',
      'netfs',
      '9p',
      'dax',
      'libnvdimm',
      'nd_btt',
      'nd_pmem',
      'libcrc32c',
      'xfs',
    ]);
    expect(new Set(names).size).toBe(names.length);
    // virtio_pci is built into 6.12 and 7.x: not a module, so not in the image.
    expect(notModules).toEqual(['virtio_pci']);
  });

  it('treats - and _ in module names alike and strips compression suffixes', () => {
    expect(moduleName('kernel/drivers/block/null_blk/null_blk.ko.zst')).toBe('null_blk');
    expect(moduleName('kernel/crypto/crc32c-generic.ko')).toBe('crc32c_generic');
    const { order } = moduleLoadOrder(parseModulesDep('kernel/crypto/crc32c-generic.ko:\n'), [
      'crc32c_generic',
    ]);
    expect(order).toEqual(['kernel/crypto/crc32c-generic.ko']);
  });

  it('survives a dependency cycle', () => {
    const { order } = moduleLoadOrder(parseModulesDep('a.ko: b.ko\nb.ko: a.ko\n'), ['a']);
    expect(order.sort()).toEqual(['a.ko', 'b.ko']);
  });
});
