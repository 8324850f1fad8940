import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasPmem, namespaceMode, parseIomem, readPmemInventory } from '../../src/kernel/pmem.js';
import { readFileSync } from 'node:fs';
import { fixture } from './helpers/fixtures.js';

const roots = {
  sysRoot: fixture('pmem', 'sys'),
  procRoot: fixture('pmem', 'proc'),
  devRoot: fixture('pmem', 'dev'),
};

describe('pmem inventory', () => {
  it('finds fsdax, devdax and raw namespaces with their sizes, claims and devices', async () => {
    const inv = await readPmemInventory(roots);
    expect(inv.ndBus).toBe(true);
    expect(inv.namespaces.map((n) => [n.name, n.mode, n.size, n.holder, n.structPages])).toEqual([
      ['namespace0.0', 'fsdax', 536870912, 'pfn0.1', true],
      ['namespace0.1', 'devdax', 268435456, 'dax0.1', true],
      ['namespace0.2', 'raw', 134217728, null, false],
      ['namespace1.0', 'fsdax', 1073741824, null, true],
    ]);
    const byName = new Map(inv.namespaces.map((n) => [n.name, n]));
    expect(byName.get('namespace0.0')).toMatchObject({
      region: 'region0',
      sysfsMode: 'memory',
      resource: '0x140000000',
      memmap: 'dev',
      align: 2097152,
      blockDevices: ['pmem0'],
    });
    expect(byName.get('namespace0.1')?.daxDevices).toEqual(['dax0.0']);
    expect(byName.get('namespace0.2')?.blockDevices).toEqual(['pmem0.2']);
    // legacy e820 (memmap=nn!ss) namespace: "memory" without a claim, memmap in RAM
    expect(byName.get('namespace1.0')).toMatchObject({
      region: 'region1',
      memmap: null,
      blockDevices: ['pmem1'],
    });
  });

  it('leaves out zero-size seed namespaces', async () => {
    const inv = await readPmemInventory(roots);
    expect(inv.namespaces.some((n) => n.name === 'namespace0.3')).toBe(false);
  });

  it('reads regions and device-dax devices with their driver', async () => {
    const inv = await readPmemInventory(roots);
    expect(inv.regions).toEqual([
      {
        name: 'region0',
        size: 1073741824,
        resource: '0x140000000',
        nstype: 5,
        persistenceDomain: 'memory_controller',
      },
      { name: 'region1', size: 1073741824, resource: '0x180000000', nstype: 4, persistenceDomain: null },
    ]);
    expect(inv.daxDevices).toEqual([
      {
        name: 'dax0.0',
        size: 266338304,
        resource: '0x160200000',
        align: 2097152,
        targetNode: 0,
        driver: 'device_dax',
      },
    ]);
    expect(inv.devNodes.map((d) => path.basename(d))).toEqual(['dax0.0', 'pmem0', 'pmem0.2', 'pmem1']);
  });

  it('lists the ranges with ZONE_DEVICE pages for pgmap discovery (fsdax → FS_DAX, device_dax → GENERIC)', async () => {
    const inv = await readPmemInventory(roots);
    expect(inv.zoneDevice).toEqual([
      { device: 'namespace0.0', memoryType: 'fs_dax', resource: '0x140000000', size: 536870912 },
      { device: 'namespace1.0', memoryType: 'fs_dax', resource: '0x180000000', size: 1073741824 },
      { device: 'dax0.0', memoryType: 'generic', resource: '0x160200000', size: 266338304 },
    ]);
    expect(hasPmem(inv)).toBe(true);
  });

  it('reads Persistent Memory ranges from /proc/iomem with their children', async () => {
    const inv = await readPmemInventory(roots);
    expect(inv.iomem).toEqual({
      readable: true,
      addressesHidden: false,
      entries: [
        {
          start: '0x140000000',
          end: '0x17fffffff',
          name: 'Persistent Memory',
          depth: 0,
          children: ['namespace0.0', 'namespace0.1', 'namespace0.2'],
        },
        {
          start: '0x180000000',
          end: '0x1bfffffff',
          name: 'Persistent Memory (legacy)',
          depth: 0,
          children: ['namespace1.0'],
        },
      ],
    });
  });

  it('knows that /proc/iomem shows zeros to non-root', () => {
    const r = parseIomem(readFileSync(fixture('pmem', 'iomem-nonroot'), 'utf8'));
    expect(r.addressesHidden).toBe(true);
    expect(r.entries.map((e) => e.name)).toEqual(['Persistent Memory', 'Persistent Memory (legacy)']);
  });

  it('maps the kernel’s mode words to ndctl’s', () => {
    expect(['memory', 'dax', 'safe', 'raw', null, 'fsdax'].map(namespaceMode)).toEqual([
      'fsdax',
      'devdax',
      'sector',
      'raw',
      'unknown',
      'fsdax',
    ]);
  });

  it('a host without nd/dax buses has nothing, without errors', async () => {
    const empty = await mkdtemp(path.join(os.tmpdir(), 'daxmon-pmem-'));
    const inv = await readPmemInventory({ sysRoot: empty, procRoot: empty, devRoot: empty });
    expect(inv).toMatchObject({ ndBus: false, daxBus: false, namespaces: [], daxDevices: [], devNodes: [] });
    expect(inv.iomem.readable).toBe(false);
    expect(hasPmem(inv)).toBe(false);
  });
});
