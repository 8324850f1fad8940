/**
 * The kconfig catalogue, the fragment `daxmon kconfig` prints and ships (deploy/kconfig/daxmon.config)
 * and the gaps doctor reports, checked against Debian's real configs (fixture lines from
 * linux-config-7.3 7.3.4-1~bpo13+1 and linux-image 6.12.118-1: docs/kernel-model.md §14).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCommand } from '../../src/cli.js';
import { parseKernelConfig } from '../../src/kernel/config.js';
import { kconfigGaps, renderKconfigFragment, satisfies } from '../../src/kernel/kconfig-fragment.js';
import { KCONFIG_OPTIONS, kconfigOption } from '../../src/kernel/kconfig-options.js';
import { compileCli, type CompiledCli } from '../cli/compiled-cli.js';

const root = path.resolve(import.meta.dirname, '..', '..');
const SHIPPED = path.join(root, 'deploy', 'kconfig', 'daxmon.config');
const fixtureConfig = (dir: string, file: string) =>
  parseKernelConfig(
    fs.readFileSync(path.join(root, 'test', 'fixtures', 'kernel', dir, 'boot', file), 'utf8'),
  );
const DEBIAN_73 = fixtureConfig('new-7.3', 'config-7.3.4+deb13-amd64');
const DEBIAN_612 = fixtureConfig('old-6.12', 'config-6.12.118+deb13-amd64');
const DEV_HOST = fixtureConfig('host-6.18', 'config-6.18.44-fc-v669');

if (process.env.DAXMON_UPDATE_DOCS === '1') fs.writeFileSync(SHIPPED, renderKconfigFragment());

describe('kconfig fragment', () => {
  it('sets every catalogue option once, under a comment saying why (and the cost, when recommended)', () => {
    const text = renderKconfigFragment();
    const lines = text.split('\n');
    for (const o of KCONFIG_OPTIONS) {
      const at = lines.filter((l) => l === `CONFIG_${o.key}=${o.value}`);
      expect(at, o.key).toHaveLength(1);
      const i = lines.indexOf(`CONFIG_${o.key}=${o.value}`);
      const comments = lines.slice(Math.max(0, i - 2), i).join('\n');
      expect(comments, o.key).toContain(o.why);
      if (o.need === 'recommended') expect(comments, o.key).toContain(`cost: ${o.cost}`);
    }
    // Only comments, blank lines and assignments: what merge_config.sh reads.
    for (const l of lines)
      expect(l === '' || l.startsWith('#') || /^CONFIG_[A-Z0-9_]+=[ym]$/.test(l), l).toBe(true);
  });

  it('filters by scope and need', () => {
    const req = renderKconfigFragment({ needs: ['required'] });
    expect(req).toContain('CONFIG_ZONE_DEVICE=y');
    expect(req).not.toContain('CONFIG_DEBUG_PAGE_REF');
    const lab = renderKconfigFragment({ scopes: ['lab'] });
    expect(lab).toContain('CONFIG_9P_FS=m');
    expect(lab).not.toContain('CONFIG_BPF_SYSCALL');
  });

  it('ships as deploy/kconfig/daxmon.config, identical to what `daxmon kconfig` prints (DAXMON_UPDATE_DOCS=1 rewrites it)', () => {
    expect(fs.readFileSync(SHIPPED, 'utf8')).toBe(renderKconfigFragment());
  });

  it('y satisfies m, m does not satisfy y, n and absent satisfy nothing', () => {
    const y = kconfigOption('NVDIMM_PFN')!;
    const m = kconfigOption('EXT4_FS')!;
    expect([
      satisfies(m, 'y'),
      satisfies(m, 'm'),
      satisfies(y, 'm'),
      satisfies(y, 'n'),
      satisfies(y, undefined),
    ]).toEqual([true, true, false, false, false]);
  });
});

describe('kconfig gaps of real configs', () => {
  const keys = (c: ReadonlyMap<string, string>, needs?: ('required' | 'recommended')[]) =>
    kconfigGaps(c, needs ? { needs } : {}).map((g) => g.option.key);

  it("Debian's 7.3.4 lacks only DEBUG_PAGE_REF and TEST_HMM, both recommended: it boots in the lab as it is", () => {
    expect(keys(DEBIAN_73)).toEqual(['DEBUG_PAGE_REF', 'TEST_HMM']);
    expect(keys(DEBIAN_73, ['required'])).toEqual([]);
  });

  it("Debian's 6.12 also lacks DEVICE_PRIVATE and PCI_P2PDMA (and TEST_HMM is not even offered)", () => {
    expect(keys(DEBIAN_612)).toEqual(['DEBUG_PAGE_REF', 'DEVICE_PRIVATE', 'PCI_P2PDMA', 'TEST_HMM']);
    expect(kconfigGaps(DEBIAN_612).find((g) => g.option.key === 'TEST_HMM')?.found).toBeNull();
    expect(kconfigGaps(DEBIAN_612).find((g) => g.option.key === 'DEVICE_PRIVATE')?.found).toBe('n');
  });

  it('the development machine lacks NVDIMM_PFN (required for pmem with struct pages) and X86_PMEM_LEGACY (the lab)', () => {
    expect(keys(DEV_HOST, ['required'])).toEqual(['NVDIMM_PFN', 'X86_PMEM_LEGACY', 'NET_9P_VIRTIO', '9P_FS']);
  });
});

describe('daxmon kconfig command line', () => {
  it('parses --scope, --required and --out; refuses a bad scope, an empty --out, an unknown flag', () => {
    expect(parseCommand(['kconfig'])).toEqual({
      cmd: 'kconfig',
      scopes: ['daxmon', 'pmem', 'lab'],
      requiredOnly: false,
    });
    expect(parseCommand(['kconfig', '--scope', 'lab', '--required', '--out', 'f.config'])).toEqual({
      cmd: 'kconfig',
      scopes: ['lab'],
      requiredOnly: true,
      out: 'f.config',
    });
    expect(parseCommand(['kconfig', '--help'])).toEqual({ cmd: 'help', topic: 'kconfig' });
    expect(() => parseCommand(['kconfig', '--scope', 'gpu'])).toThrow(
      /--scope must be one of daxmon, pmem, lab, all/,
    );
    expect(() => parseCommand(['kconfig', '--out', ''])).toThrow(
      "--out '' is empty: name the file to write to",
    );
    expect(() => parseCommand(['kconfig', '--bogus'])).toThrow(/DAXMON_E_USAGE|bogus/);
  });
});

describe('daxmon kconfig, run as users run it', () => {
  let compiled: CompiledCli;
  beforeAll(async () => {
    compiled = await compileCli();
  }, 120_000);
  afterAll(() => compiled?.cleanup());
  const daxmon = (args: string[]) =>
    spawnSync(process.execPath, [compiled.cli, ...args], { encoding: 'utf8', timeout: 60_000 });

  it('prints the fragment, writes it with --out, and says DAXMON_E_OUTPUT_WRITE when it cannot', () => {
    const printed = daxmon(['kconfig', '--scope', 'daxmon', '--required']);
    expect(printed.status).toBe(0);
    expect(printed.stdout).toBe(renderKconfigFragment({ scopes: ['daxmon'], needs: ['required'] }));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxmon-kconfig-'));
    try {
      const file = path.join(dir, 'daxmon.config');
      const written = daxmon(['kconfig', '--out', file]);
      expect(written.status).toBe(0);
      expect(fs.readFileSync(file, 'utf8')).toBe(renderKconfigFragment());
      const bad = daxmon(['kconfig', '--out', path.join(dir, 'no', 'such', 'dir', 'x.config')]);
      expect(bad.status).toBe(2);
      expect(bad.stderr).toMatch(/DAXMON_E_OUTPUT_WRITE: daxmon kconfig: cannot write .*ENOENT/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const help = daxmon(['kconfig', '--help']);
    expect(help.stdout).toContain('merge_config.sh');
  });
});
