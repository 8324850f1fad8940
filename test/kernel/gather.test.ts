import { existsSync, readdirSync } from 'node:fs';
import { chmod, mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { gatherKernelFacts } from '../../src/kernel/gather.js';
import { hasPmem } from '../../src/kernel/pmem.js';
import { PROG_TYPES } from '../../src/kernel/facts.js';
import { modelBtf } from './helpers/btf-encoder.js';
import { fixture } from './helpers/fixtures.js';

const NOWHERE = '/nonexistent-daxmon-root';

describe('gatherKernelFacts on fixture trees', () => {
  it('a 7.3 host with pmem: model from kallsyms, namespaces from sysfs, config from /boot', async () => {
    const boot = await mkdtemp(path.join(os.tmpdir(), 'daxmon-boot-'));
    await writeFile(path.join(boot, 'config-7.3.4+deb13-amd64'), 'CONFIG_KPROBES=y\nCONFIG_FS_DAX=y\n');
    const facts = await gatherKernelFacts({
      release: '7.3.4+deb13-amd64',
      procRoot: fixture('new-7.3', 'proc'),
      sysRoot: fixture('pmem', 'sys'),
      devRoot: fixture('pmem', 'dev'),
      bootRoot: boot,
      progTypes: false,
      tools: false,
    });
    expect(facts.release).toBe('7.3.4+deb13-amd64');
    expect(facts.model).toMatchObject({ model: 'new', source: 'kallsyms' });
    expect(facts.kallsyms.readable).toBe(true);
    expect(facts.kallsyms.functions.has('pmem_attach_disk')).toBe(true);
    expect(facts.config?.get('KPROBES')).toBe('y');
    expect(facts.configSource).toBe(path.join(boot, 'config-7.3.4+deb13-amd64'));
    expect(facts.pmem?.namespaces.map((n) => n.mode)).toEqual(['fsdax', 'devdax', 'raw', 'fsdax']);
    expect(facts.btf.vmlinux).toBe(false);
    expect(facts.problems?.some((p) => p.startsWith('DAXMON_E_BTF_MISSING'))).toBe(true);
    expect(facts.problems?.some((p) => p.startsWith('DAXMON_E_TRACEFS_NOT_MOUNTED'))).toBe(true);
    expect(facts.tools).toBeUndefined();
    for (const t of PROG_TYPES) expect(facts.progTypes[t].loads).toBeNull();
  });

  it('falls back to BTF when kallsyms is unreadable', async () => {
    const sys = await mkdtemp(path.join(os.tmpdir(), 'daxmon-sys-'));
    await mkdir(path.join(sys, 'kernel', 'btf'), { recursive: true });
    await writeFile(path.join(sys, 'kernel', 'btf', 'vmlinux'), modelBtf('old'));
    const facts = await gatherKernelFacts({
      release: '6.15.0-backport-of-nothing',
      procRoot: NOWHERE,
      sysRoot: sys,
      bootRoot: NOWHERE,
      modulesRoot: NOWHERE,
      devRoot: NOWHERE,
      progTypes: false,
      tools: false,
    });
    expect(facts.model).toMatchObject({ model: 'old', source: 'btf' });
    expect(facts.btf).toMatchObject({ vmlinux: true, types: { pageHasPgmap: true, getDevPagemapParams: 2 } });
    expect(facts.kallsyms).toMatchObject({ readable: false });
    expect(facts.kallsyms.reason).toMatch(/^DAXMON_E_KALLSYMS_UNREADABLE/);
  });

  it('nothing readable and every tool failing: still facts, every failure a reason', async () => {
    const facts = await gatherKernelFacts({
      release: '6.14.3',
      procRoot: NOWHERE,
      sysRoot: NOWHERE,
      bootRoot: NOWHERE,
      modulesRoot: NOWHERE,
      devRoot: NOWHERE,
      bpfcheckPath: path.join(NOWHERE, 'daxmon-bpfcheck'),
      run: () => {
        throw new Error('spawn exploded');
      },
    });
    expect(facts.model).toMatchObject({ model: 'old', source: 'release' });
    // A runner that cannot spawn says nothing about whether a tool is installed: unknown, not missing.
    for (const t of ['bpftrace', 'clang', 'libbpf', 'bpftool'] as const) {
      expect(facts.tools?.[t]).toMatchObject({
        version: null,
        problem: expect.stringMatching(/spawn exploded/),
      });
    }
    const codes = (facts.problems ?? []).map((p) => p.split(':')[0]);
    expect(codes).toEqual(
      expect.arrayContaining([
        'DAXMON_E_KALLSYMS_UNREADABLE',
        'DAXMON_E_BTF_MISSING',
        'DAXMON_E_TRACEFS_NOT_MOUNTED',
        'DAXMON_E_CONFIG_UNREADABLE',
        'DAXMON_E_BPFCHECK_MISSING',
      ]),
    );
    expect(facts.pmem && hasPmem(facts.pmem)).toBe(false);
  });

  it('runs the program-type checker and passes the model override through', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'daxmon-gather-'));
    const bin = path.join(dir, 'daxmon-bpfcheck');
    await writeFile(bin, `#!/bin/sh\necho '{"tracepoint":{"loads":true,"detail":"ok"}}'\n`);
    await chmod(bin, 0o755);
    const facts = await gatherKernelFacts({
      release: '6.18.1',
      procRoot: fixture('host-6.18', 'proc'),
      sysRoot: NOWHERE,
      bootRoot: fixture('host-6.18', 'boot'),
      devRoot: NOWHERE,
      bpfcheckPath: bin,
      assumePrivileged: true,
      tools: false,
      model: 'old',
    });
    expect(facts.progTypes.tracepoint).toEqual({ loads: true, detail: 'ok' });
    expect(facts.progTypes.fentry.loads).toBeNull();
    expect(facts.model).toMatchObject({ model: 'old', source: 'override' });
    expect(facts.kallsyms.addressesHidden).toBe(true);
  });
});

describe('gatherKernelFacts on this host', () => {
  it('tells the truth about this machine', async () => {
    const facts = await gatherKernelFacts();
    expect(facts.release).toBe(os.release());
    expect(facts.btf.vmlinux).toBe(existsSync('/sys/kernel/btf/vmlinux'));
    expect(facts.kallsyms.readable).toBe(true);
    expect(facts.kallsyms.functions.has('schedule')).toBe(true);
    // The inventory agrees with a plain look at sysfs and /dev.
    const namespaces = existsSync('/sys/bus/nd/devices')
      ? readdirSync('/sys/bus/nd/devices').filter((n) => n.startsWith('namespace'))
      : [];
    const devNodes = readdirSync('/dev').filter((n) => /^(pmem\d|dax\d+\.\d+$)/.test(n));
    expect(facts.pmem?.devNodes.length).toBe(devNodes.length);
    if (namespaces.length === 0) expect(facts.pmem?.namespaces).toEqual([]);
    expect(facts.problems?.some((p) => p.startsWith('DAXMON_E_DOCTOR_INTERNAL'))).toBe(false);
  });

  // The development machines (docs/kernel-model.md §0 K618, docs/vm-lab.md): 6.18, new model, BTF, no pmem.
  // Elsewhere (the qemu guest, an older kernel) these differ by design, so only assert them here.
  it.runIf(/^6\.18\..*-fc-/.test(os.release()))(
    'on a development machine: model new, BTF present, no pmem devices',
    async () => {
      const facts = await gatherKernelFacts({ progTypes: false });
      expect(facts.model.model).toBe('new');
      expect(facts.model.source).toBe('kallsyms');
      expect(facts.btf.vmlinux).toBe(true);
      expect(facts.btf.types).toMatchObject({
        folioHasPgmap: true,
        memdescFlagsT: true,
        getDevPagemapParams: 1,
      });
      expect(facts.config?.get('KPROBES')).toBe('n');
      expect(facts.config?.get('FS_DAX')).toBe('y');
      expect(facts.pmem && hasPmem(facts.pmem)).toBe(false);
      expect(facts.pmem?.namespaces).toEqual([]);
      expect(facts.pmem?.devNodes).toEqual([]);
    },
  );
});
