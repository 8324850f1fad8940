import { describe, expect, it } from 'vitest';
import { PMEM_PFN, Stream } from '../helpers/events.js';
import { kinds, run } from '../helpers/pipeline.js';

describe('page_free_missing (V9)', () => {
  const free = (called: boolean | null) => ({
    pfn: PMEM_PFN,
    order: 0,
    refcount: 0,
    mapcount: 0,
    pageFreeCalled: called,
  });

  it('fires when a device-private page reaches 0 without ->page_free', () => {
    for (const model of ['old', 'new'] as const) {
      const s = new Stream(model).pgmap('private').push('zone_device_free', free(false));
      expect(kinds(run(model, s))).toEqual(['page_free_missing']);
    }
  });

  it('stays quiet when the callback ran, when it was not probed, and for FS DAX (which has none)', () => {
    expect(
      kinds(run('new', new Stream('new').pgmap('private').push('zone_device_free', free(true)))),
    ).toEqual([]);
    expect(
      kinds(run('new', new Stream('new').pgmap('private').push('zone_device_free', free(null)))),
    ).toEqual([]);
    expect(
      kinds(run('new', new Stream('new').pgmap('fs_dax').push('zone_device_free', free(false)))),
    ).toEqual([]);
  });
});
