import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { capsLauncher, helperCommand, launcherProblem } from '../../src/kernel/launcher.js';
import {
  fillResourcesPrivileged,
  parseResourceLines,
  withResources,
} from '../../src/kernel/pmem-resources.js';
import type { CommandRunner } from '../../src/kernel/exec.js';
import type { PmemInventory } from '../../src/kernel/pmem.js';

describe('the capability launcher (docs/privileges.md)', () => {
  it('is configured by DAXMON_CAPS_LAUNCHER; unset or empty means spawning helpers directly', () => {
    expect(capsLauncher({})).toBeNull();
    expect(capsLauncher({ DAXMON_CAPS_LAUNCHER: '' })).toBeNull();
    expect(capsLauncher({ DAXMON_CAPS_LAUNCHER: '/opt/daxmon/bpf/build/daxmon-caps' })).toBe(
      '/opt/daxmon/bpf/build/daxmon-caps',
    );
  });

  it('puts the helper first in the launcher’s argv, or runs it directly', () => {
    expect(helperCommand('/b/daxmon-scan', ['--x'], null)).toEqual({
      command: '/b/daxmon-scan',
      args: ['--x'],
    });
    expect(helperCommand('/b/daxmon-scan', ['--x'], '/b/daxmon-caps')).toEqual({
      command: '/b/daxmon-caps',
      args: ['/b/daxmon-scan', '--x'],
    });
  });

  it('reports a launcher that is relative, missing or not executable (doctor shows it)', async () => {
    expect(await launcherProblem(null)).toBeUndefined();
    expect(await launcherProblem('bpf/build/daxmon-caps')).toMatch(
      /^DAXMON_E_CAPS_LAUNCHER: .*not an absolute path/,
    );
    expect(await launcherProblem('/nonexistent/daxmon-caps')).toMatch(
      /^DAXMON_E_CAPS_LAUNCHER: .*cannot be executed \(ENOENT\).*install-caps\.sh/,
    );
    const dir = await mkdtemp(path.join(os.tmpdir(), 'daxmon-launcher-'));
    const f = path.join(dir, 'daxmon-caps');
    await writeFile(f, '#!/bin/sh\n');
    await chmod(f, 0o755);
    expect(await launcherProblem(f)).toBeUndefined();
  });
});

function inventory(resources: Record<string, string | null>): PmemInventory {
  return {
    ndBus: true,
    daxBus: true,
    regions: [],
    namespaces: Object.entries(resources)
      .filter(([n]) => n.startsWith('namespace'))
      .map(([name, resource]) => ({
        name,
        region: 'region0',
        sysfsMode: 'memory',
        mode: 'fsdax',
        size: 1 << 30,
        resource,
        holder: null,
        memmap: null,
        align: null,
        structPages: true,
        blockDevices: ['pmem0'],
        daxDevices: [],
      })),
    daxDevices: Object.entries(resources)
      .filter(([n]) => n.startsWith('dax'))
      .map(([name, resource]) => ({
        name,
        size: 1 << 30,
        resource,
        align: null,
        targetNode: null,
        driver: 'device_dax',
      })),
    classDax: [],
    devNodes: [],
    iomem: { readable: true, addressesHidden: true, entries: [] },
    zoneDevice: Object.entries(resources).map(([device, resource]) => ({
      device,
      memoryType: device.startsWith('dax') ? 'generic' : 'fs_dax',
      resource,
      size: 1 << 30,
    })),
    unreadable: [],
  };
}

describe('pmem ranges read through the launcher when daxmon is not root', () => {
  it('parses daxmon-scan --read-resource and fills in only what was missing', () => {
    const v = parseResourceLines('namespace0.0 0x140000000\ndax1.0 - EACCES\ngarbage\n');
    expect([...v]).toEqual([['namespace0.0', '0x140000000']]);
    const inv = withResources(inventory({ 'namespace0.0': null, 'dax1.0': null, 'namespace2.0': '0x1' }), v);
    expect(inv.zoneDevice.map((c) => c.resource)).toEqual(['0x140000000', null, '0x1']);
    expect(inv.namespaces.find((n) => n.name === 'namespace0.0')?.resource).toBe('0x140000000');
  });

  it('asks daxmon-caps DAXMON-SCAN --read-resource for the unreadable candidates only', async () => {
    const calls: string[][] = [];
    const run: CommandRunner = async (command, args) => {
      calls.push([command, ...args]);
      return { exitCode: 0, stdout: 'namespace0.0 0x140000000\ndax1.0 0x280000000\n', stderr: '' };
    };
    const r = await fillResourcesPrivileged(
      inventory({ 'namespace0.0': null, 'dax1.0': null, 'namespace2.0': '0x1' }),
      {
        run,
        launcher: '/b/daxmon-caps',
        scanPath: '/b/daxmon-scan',
      },
    );
    expect(calls).toEqual([
      ['/b/daxmon-caps', '/b/daxmon-scan', '--read-resource', 'namespace0.0', 'dax1.0'],
    ]);
    expect(r.reason).toBeUndefined();
    expect(r.inventory.zoneDevice.map((c) => c.resource)).toEqual(['0x140000000', '0x280000000', '0x1']);
  });

  it('without a launcher or with nothing missing, runs nothing; a failed read is a reason', async () => {
    const never: CommandRunner = async () => {
      throw new Error('must not run');
    };
    const inv = inventory({ 'namespace0.0': null });
    expect((await fillResourcesPrivileged(inv, { run: never, launcher: null })).inventory).toBe(inv);
    const known = inventory({ 'namespace0.0': '0x1' });
    expect((await fillResourcesPrivileged(known, { run: never, launcher: '/b/c' })).inventory).toBe(known);
    const refused: CommandRunner = async () => ({
      exitCode: 126,
      stdout: '',
      stderr:
        'DAXMON_E_CAPS_REFUSED: daxmon-caps: daxmon-scan needs CAP_DAC_READ_SEARCH, which daxmon-caps does not hold\n',
    });
    const r = await fillResourcesPrivileged(inv, { run: refused, launcher: '/b/daxmon-caps' });
    expect(r.reason).toMatch(
      /^DAXMON_E_CAPS_LAUNCHER: the resource of namespace0\.0 could not be read .*exit 126: DAXMON_E_CAPS_REFUSED/,
    );
    expect(r.inventory.zoneDevice[0]!.resource).toBeNull();
  });
});
