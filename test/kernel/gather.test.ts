import { chmod, mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { gatherKernelFacts, type GatherOptions } from '../../src/kernel/gather.js';
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
      // no release given: the tree's osrelease names it, and so picks /boot/config-<release>
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

  it('a DAXMON_CAPS_LAUNCHER that cannot be run is a problem doctor lists', async () => {
    const facts = await gatherKernelFacts({
      procRoot: fixture('new-7.3', 'proc'),
      sysRoot: fixture('pmem', 'sys'),
      devRoot: fixture('pmem', 'dev'),
      progTypes: false,
      tools: false,
      launcher: '/nonexistent/daxmon-caps',
    });
    expect(facts.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^DAXMON_E_CAPS_LAUNCHER: .*\/nonexistent\/daxmon-caps cannot be executed/),
      ]),
    );
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

// Every expectation below is what the fixture tree should produce, whatever kernel runs the test:
// the release comes from the tree's /proc/sys/kernel/osrelease, never from the host's uname.
describe('gatherKernelFacts on each fixture kernel', () => {
  const cases: {
    name: string;
    opts: GatherOptions;
    release: string;
    model: 'old' | 'new';
    config: string | null;
    tracefs: { path: string | null; events: string[] };
    namespaces: string[];
    zoneDevice: number;
    problems: string[];
  }[] = [
    {
      name: 'the 6.18 development host (tracefs mounted)',
      opts: {
        procRoot: fixture('host-6.18', 'proc'),
        sysRoot: fixture('tracefs', 'sys'),
        bootRoot: fixture('host-6.18', 'boot'),
      },
      release: '6.18.44-fc-v669',
      model: 'new',
      config: fixture('host-6.18', 'boot', 'config-6.18.44-fc-v669'),
      tracefs: {
        path: fixture('tracefs', 'sys', 'kernel', 'tracing'),
        events: [
          'fs_dax:dax_pmd_fault',
          'fs_dax:dax_pte_fault_done',
          'page_ref:page_ref_mod',
          'xdp:xdp_devmap_xmit',
        ],
      },
      namespaces: [],
      zoneDevice: 0,
      problems: ['DAXMON_E_BTF_MISSING', '/proc/iomem unreadable'],
    },
    {
      name: 'a 7.3 guest with pmem (no tracefs, no config)',
      opts: {
        procRoot: fixture('new-7.3', 'proc'),
        sysRoot: fixture('pmem', 'sys'),
        devRoot: fixture('pmem', 'dev'),
      },
      release: '7.3.4+deb13-amd64',
      model: 'new',
      config: null,
      tracefs: { path: null, events: [] },
      namespaces: ['namespace0.0:fsdax', 'namespace0.1:devdax', 'namespace0.2:raw', 'namespace1.0:fsdax'],
      zoneDevice: 3,
      problems: ['DAXMON_E_BTF_MISSING', 'DAXMON_E_TRACEFS_NOT_MOUNTED', 'DAXMON_E_CONFIG_UNREADABLE'],
    },
    {
      name: 'a 6.12 guest',
      opts: { procRoot: fixture('old-6.12', 'proc') },
      release: '6.12.118+deb13-amd64',
      model: 'old',
      config: null,
      tracefs: { path: null, events: [] },
      namespaces: [],
      zoneDevice: 0,
      problems: [
        'DAXMON_E_BTF_MISSING',
        'DAXMON_E_TRACEFS_NOT_MOUNTED',
        'DAXMON_E_CONFIG_UNREADABLE',
        '/proc/iomem unreadable',
      ],
    },
    {
      name: 'a 6.1 guest with tracefs under debugfs only',
      opts: { procRoot: fixture('old-6.1', 'proc'), sysRoot: fixture('tracefs-debug', 'sys') },
      release: '6.1.0-56-amd64',
      model: 'old',
      config: null,
      // No available_events there: the events come from walking events/.
      tracefs: {
        path: fixture('tracefs-debug', 'sys', 'kernel', 'debug', 'tracing'),
        events: ['fs_dax:dax_pte_fault', 'sched:sched_switch'],
      },
      namespaces: [],
      zoneDevice: 0,
      problems: ['DAXMON_E_BTF_MISSING', 'DAXMON_E_CONFIG_UNREADABLE', '/proc/iomem unreadable'],
    },
  ];

  it.each(cases)('$name', async (c) => {
    const facts = await gatherKernelFacts({
      sysRoot: NOWHERE,
      bootRoot: NOWHERE,
      modulesRoot: NOWHERE,
      devRoot: NOWHERE,
      progTypes: false,
      tools: false,
      ...c.opts,
    });
    expect(facts.release).toBe(c.release);
    expect(facts.model).toMatchObject({ model: c.model, source: 'kallsyms' });
    expect(facts.kallsyms.readable).toBe(true);
    expect(facts.configSource ?? null).toBe(c.config);
    expect(facts.tracefs.path).toBe(c.tracefs.path);
    expect([...facts.tracefs.events].sort()).toEqual(expect.arrayContaining(c.tracefs.events));
    if (c.tracefs.path === null) expect(facts.tracefs.events.size).toBe(0);
    expect(facts.pmem?.namespaces.map((n) => `${n.name}:${n.mode}`)).toEqual(c.namespaces);
    expect(facts.pmem?.zoneDevice).toHaveLength(c.zoneDevice);
    expect((facts.problems ?? []).map((p) => p.split(':')[0])).toEqual(c.problems);
    for (const t of PROG_TYPES) expect(facts.progTypes[t].loads).toBeNull();
  });

  it('the checker refusing tracepoint on a tree without tracefs: the facts name the cause and the fix', async () => {
    const bin = path.join(await mkdtemp(path.join(os.tmpdir(), 'daxmon-gather-')), 'daxmon-bpfcheck');
    await writeFile(bin, '#!/bin/sh\n');
    await chmod(bin, 0o755);
    const facts = await gatherKernelFacts({
      procRoot: fixture('host-6.18', 'proc'),
      sysRoot: NOWHERE,
      bootRoot: fixture('host-6.18', 'boot'),
      modulesRoot: NOWHERE,
      devRoot: NOWHERE,
      tools: false,
      bpfcheckPath: bin,
      assumePrivileged: true,
      run: async () => ({
        exitCode: 0,
        stdout: JSON.stringify({
          tracepoint: { loads: false, detail: 'attach: ENOENT' },
          raw_tp: { loads: true, detail: 'ok' },
          kprobe: { loads: false, detail: 'attach: ENOENT' },
        }),
        stderr: '',
      }),
    });
    expect(facts.release).toBe('6.18.44-fc-v669');
    expect(facts.progTypes.tracepoint.detail).toMatch(
      /^attach: ENOENT; DAXMON_E_TRACEFS_NOT_MOUNTED: .*`mount -t tracefs nodev \/sys\/kernel\/tracing`/,
    );
    // The tree's config says CONFIG_KPROBES is not set.
    expect(facts.progTypes.kprobe.detail).toBe(
      'attach: ENOENT; this kernel is built without kprobes (CONFIG_KPROBES=n)',
    );
    expect(facts.progTypes.raw_tp).toEqual({ loads: true, detail: 'ok' });
  });
});
