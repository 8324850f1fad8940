import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { configEnabled, parseKernelConfig, readKernelConfig } from '../../src/kernel/config.js';
import { fixture } from './helpers/fixtures.js';

const HOST_RELEASE = '6.18.44-fc-v669';
const SNIPPET = readFileSync(fixture('host-6.18', 'boot', `config-${HOST_RELEASE}`), 'utf8');

describe('kernel config', () => {
  it('parses y/m/values, drops CONFIG_, records "is not set" as n and unquotes strings', () => {
    const c = parseKernelConfig(`${SNIPPET}\nCONFIG_NVDIMM=m\n`);
    expect(c.get('FS_DAX')).toBe('y');
    expect(c.get('KPROBES')).toBe('n');
    expect(c.get('DEBUG_PAGE_REF')).toBe('n');
    expect(c.get('NODES_SHIFT')).toBe('10');
    expect(c.get('LOCALVERSION')).toBe('-fc-v669');
    expect(c.get('NVDIMM')).toBe('m');
    expect(c.has('CONFIG_FS_DAX')).toBe(false);
    expect(c.has('SOMETHING_ELSE')).toBe(false);
  });

  it('answers enabled?: y and m yes, n and absent no, no config unknown', () => {
    const c = parseKernelConfig(`${SNIPPET}\nCONFIG_NVDIMM=m\n`);
    expect(configEnabled(c, 'FS_DAX')).toBe(true);
    expect(configEnabled(c, 'NVDIMM')).toBe(true);
    expect(configEnabled(c, 'KPROBES')).toBe(false);
    expect(configEnabled(c, 'NOT_IN_THIS_KERNEL')).toBe(false);
    expect(configEnabled(null, 'FS_DAX')).toBeNull();
  });

  it('prefers /proc/config.gz (the running kernel’s own)', async () => {
    const proc = await mkdtemp(path.join(os.tmpdir(), 'daxmon-cfg-'));
    await writeFile(path.join(proc, 'config.gz'), gzipSync('CONFIG_KPROBES=y\n'));
    const r = await readKernelConfig(HOST_RELEASE, proc, fixture('host-6.18', 'boot'));
    expect(r.source).toBe(path.join(proc, 'config.gz'));
    expect(r.config?.get('KPROBES')).toBe('y');
  });

  it('falls back to /boot/config-$(uname -r)', async () => {
    const proc = await mkdtemp(path.join(os.tmpdir(), 'daxmon-cfg-'));
    const r = await readKernelConfig(HOST_RELEASE, proc, fixture('host-6.18', 'boot'));
    expect(r.source).toMatch(/config-6\.18\.44-fc-v669$/);
    expect(r.config?.get('KPROBES')).toBe('n');
  });

  it('then tries /lib/modules/$(uname -r)/config (Fedora)', async () => {
    const empty = await mkdtemp(path.join(os.tmpdir(), 'daxmon-cfg-'));
    const modules = await mkdtemp(path.join(os.tmpdir(), 'daxmon-mod-'));
    await mkdir(path.join(modules, '6.17.1-300.fc43.x86_64'));
    await writeFile(path.join(modules, '6.17.1-300.fc43.x86_64', 'config'), 'CONFIG_FS_DAX=y\n');
    const r = await readKernelConfig('6.17.1-300.fc43.x86_64', empty, empty, modules);
    expect(r.config?.get('FS_DAX')).toBe('y');
    expect(r.source).toBe(path.join(modules, '6.17.1-300.fc43.x86_64', 'config'));
  });

  it('reports what it tried when none exists', async () => {
    const empty = await mkdtemp(path.join(os.tmpdir(), 'daxmon-cfg-'));
    const r = await readKernelConfig('9.9.9', empty, empty, empty);
    expect(r.config).toBeNull();
    expect(r.reason).toMatch(
      /^DAXMON_E_CONFIG_UNREADABLE: no kernel config found .*config\.gz: ENOENT.*config-9\.9\.9: ENOENT.*9\.9\.9\/config: ENOENT/,
    );
  });

  it('reports a corrupt config.gz and still tries /boot', async () => {
    const proc = await mkdtemp(path.join(os.tmpdir(), 'daxmon-cfg-'));
    await writeFile(path.join(proc, 'config.gz'), 'not gzip');
    const r = await readKernelConfig(HOST_RELEASE, proc, fixture('host-6.18', 'boot'));
    expect(r.source).toMatch(/boot/);
  });
});
