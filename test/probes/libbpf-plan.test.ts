import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DaxEvent } from '../../src/events/types.js';
import type { KernelFacts, ProgTypeResult } from '../../src/kernel/facts.js';
import { PACKAGE_ROOT } from '../../src/package-root.js';
import {
  LIBBPF_PROBES,
  createLibbpfBackend,
  enableSpec,
  pgmapRangeArgs,
  planHooks,
} from '../../src/probes/libbpf/plan.js';

// The hook-relevant function names of /proc/kallsyms, as dumped in the VM testbed guests
// (Debian 7.3.4+deb13, 6.12.117+deb13, 6.1.0-56; 2026-11-25) and on the development host (6.18).
const KALLSYMS_7_3 = [
  'check_vma_flags',
  'dax_break_layout',
  'dax_break_layout_final',
  'dax_disassociate_entry.isra.0',
  'dax_disassociate_entry.isra.0.cold',
  'dax_insert_entry',
  'dax_layout_busy_page_range',
  'dev_pagemap_percpu_release',
  'ext4_break_layouts',
  'ext4_wait_dax_page',
  'folio_remove_rmap_pmd',
  'folio_remove_rmap_ptes',
  'free_zone_device_folio',
  'gup_put_folio',
  'memmap_init_zone_device',
  'memunmap_pages',
  'try_grab_folio',
  'try_grab_folio_fast',
  'vmf_insert_folio_pmd',
  'vmf_insert_folio_pud',
  'vmf_insert_mixed',
  'vmf_insert_mixed_mkwrite',
  'vmf_insert_page_mkwrite',
  'vmf_insert_pfn_pmd',
  'vmf_insert_pfn_pud',
  'wake_up_var',
  'xfs_break_dax_layouts',
  'xfs_wait_dax_page',
];
const KALLSYMS_6_12 = [
  '__put_devmap_managed_folio_refs',
  'check_vma_flags',
  'dax_disassociate_entry',
  'dax_insert_entry',
  'dax_layout_busy_page_range',
  'dev_pagemap_percpu_release',
  'ext4_break_layouts',
  'folio_remove_rmap_pmd',
  'folio_remove_rmap_ptes',
  'free_zone_device_folio',
  'gup_put_folio',
  'memmap_init_zone_device',
  'memunmap_pages',
  'try_grab_folio',
  'try_grab_folio_fast',
  'vmf_insert_mixed',
  'vmf_insert_mixed_mkwrite',
  'vmf_insert_pfn_pmd',
  'vmf_insert_pfn_pud',
  'wake_up_var',
  'xfs_break_dax_layouts',
];
const KALLSYMS_6_1 = [
  '__put_devmap_managed_page_refs',
  'check_vma_flags',
  'dax_disassociate_entry',
  'dax_insert_entry',
  'dax_layout_busy_page_range',
  'dev_pagemap_percpu_release',
  'ext4_break_layouts',
  'free_zone_device_page',
  'gup_put_folio',
  'memmap_init_zone_device',
  'memunmap_pages',
  'try_grab_folio',
  'try_grab_page',
  'vmf_insert_mixed',
  'vmf_insert_mixed_mkwrite',
  'vmf_insert_pfn_pmd_prot',
  'vmf_insert_pfn_pud_prot',
  'wake_up_var',
  'xfs_break_dax_layouts',
];
/** The development host's 6.18: dax_disassociate_entry is inlined away, only dax_folio_put's clone is left. */
const KALLSYMS_DEV = [
  ...KALLSYMS_7_3.filter((f) => !f.startsWith('dax_disassociate_entry')),
  'dax_folio_put.isra.0',
];

const FS_DAX = ['fs_dax:dax_pte_fault_done', 'fs_dax:dax_pmd_fault_done', 'sched:sched_process_exit'];
const yes: ProgTypeResult = { loads: true, detail: 'loaded and attached' };

function facts(
  release: string,
  model: 'old' | 'new',
  functions: string[],
  over: Partial<KernelFacts> = {},
): KernelFacts {
  return {
    release,
    model: { model, source: 'kallsyms', evidence: [] },
    btf: { vmlinux: true, path: '/sys/kernel/btf/vmlinux' },
    kallsyms: { readable: true, functions: new Set(functions) },
    tracefs: { path: '/sys/kernel/tracing', events: new Set(FS_DAX) },
    progTypes: { tracepoint: yes, raw_tp: yes, tp_btf: yes, kprobe: yes, fentry: yes },
    config: null,
    pmem: {
      ndBus: true,
      daxBus: true,
      regions: [],
      namespaces: [],
      daxDevices: [],
      classDax: [],
      devNodes: ['/dev/pmem0'],
      iomem: { readable: true, addressesHidden: false, entries: [] },
      zoneDevice: [{ device: 'namespace0.0', memoryType: 'fs_dax', resource: '0x140000000', size: 1 << 30 }],
      unreadable: [],
    },
    ...over,
  };
}

const f73 = (): KernelFacts => facts('7.3.4+deb13-amd64', 'new', KALLSYMS_7_3);
const f612 = (): KernelFacts => facts('6.12.117+deb13-amd64', 'old', KALLSYMS_6_12);
const f61 = (): KernelFacts => facts('6.1.0-56-amd64', 'old', KALLSYMS_6_1);
const fDev = (): KernelFacts =>
  facts('6.18.44-fc-v669', 'new', KALLSYMS_DEV, {
    progTypes: {
      tracepoint: yes,
      raw_tp: yes,
      tp_btf: yes,
      kprobe: {
        loads: false,
        detail: 'loaded, attach to vfs_read refused: No such file or directory (ENOENT)',
      },
      fentry: { loads: false, detail: 'load refused: Operation not permitted (EPERM)' },
    },
  });

/** probe → "symbol:first-choice" for every planned hook. */
function chosen(f: KernelFacts): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const h of planHooks(f).hooks) (out[h.probe] ??= []).push(`${h.symbol}:${h.alternatives[0]?.via}`);
  return out;
}

const OPTS = { strict: false, bpfBuildDir: '/opt/daxmon/bpf/build', bpftraceDir: '/opt/daxmon/bpf/bpftrace' };
const builtBackend = () =>
  createLibbpfBackend({ exists: () => true, defaultBuildDir: '/opt/daxmon/bpf/build' });

describe('libbpf hook selection per kernel generation', () => {
  it('7.x (new model): fentry/fexit on the new inserts, the rmap removal and the free; the .isra clone by kprobe', () => {
    const c = chosen(f73());
    expect(c.folio_map_pte).toEqual([
      'vmf_insert_page_mkwrite:fentry',
      'vmf_insert_mixed_mkwrite:fentry',
      'vmf_insert_mixed:fentry',
    ]);
    expect(c.folio_map_pmd).toEqual(['vmf_insert_folio_pmd:fentry', 'vmf_insert_pfn_pmd:fentry']);
    expect(c.folio_unmap).toEqual(['folio_remove_rmap_ptes:fentry', 'folio_remove_rmap_pmd:fentry']);
    expect(c.zone_device_free).toEqual(['free_zone_device_folio:fentry']);
    expect(c.dax_entry_remove).toEqual(['dax_disassociate_entry.isra.0:kprobe']);
    expect(c.gup_grab).toEqual(['try_grab_folio:fentry', 'try_grab_folio_fast:fentry']);
    expect(c.layout_break).toEqual(['dax_break_layout:fentry', 'dax_break_layout_final:fentry']);
    expect(c.layout_break_sleep).toEqual(['xfs_wait_dax_page:fentry', 'ext4_wait_dax_page:fentry']);
    expect(c.dax_fault_pte).toEqual(['fs_dax:dax_pte_fault_done:tp_btf']);
    const p = planHooks(f73());
    expect(p.unavailable).toEqual([]);
    expect(p.notApplicable.map((u) => u.probe)).toEqual(['devmap_put']);
    expect(p.notApplicable[0]?.reason).toMatch(/not applicable to the new refcount model/);
    expect(p.missing).toEqual([]);
  });

  it('6.12 (old model): the devmap pfn inserts, __put_devmap_managed_folio_refs, the filesystem layout breaks', () => {
    const c = chosen(f612());
    expect(c.folio_map_pte).toEqual(['vmf_insert_mixed_mkwrite:fentry', 'vmf_insert_mixed:fentry']);
    expect(c.folio_map_pmd).toEqual(['vmf_insert_pfn_pmd:fentry']);
    expect(c.devmap_put).toEqual(['__put_devmap_managed_folio_refs:fentry']);
    expect(c.dax_entry_remove).toEqual(['dax_disassociate_entry:fentry']);
    expect(c.gup_grab).toEqual(['try_grab_folio:fentry', 'try_grab_folio_fast:fentry']);
    expect(c.layout_break).toEqual(['xfs_break_dax_layouts:fentry', 'ext4_break_layouts:fentry']);
    const p = planHooks(f612());
    // the wait callbacks are inlined in this build: reported, but never fatal
    expect(p.unavailable.map((u) => u.probe)).toEqual(['layout_break_sleep']);
    expect(p.missing).toEqual([]);
    // try_grab_folio takes a folio here (6.10+): the folio-reading program, not 6.1's
    const grab = p.hooks.find((h) => h.symbol === 'try_grab_folio');
    expect(grab?.alternatives[0]?.programs).toEqual(['gup_grab__fexit__try_grab_folio']);
  });

  it('6.1 (old model): free_zone_device_page, the _page_refs put, vmf_insert_pfn_pmd_prot and the page-taking grabs', () => {
    const c = chosen(f61());
    expect(c.zone_device_free).toEqual(['free_zone_device_page:fentry']);
    expect(c.devmap_put).toEqual(['__put_devmap_managed_page_refs:fentry']);
    expect(c.folio_map_pmd).toEqual(['vmf_insert_pfn_pmd_prot:fentry']);
    expect(c.folio_map_pud).toEqual(['vmf_insert_pfn_pud_prot:fentry']);
    expect(c.gup_grab).toEqual(['try_grab_folio:fentry', 'try_grab_page:fentry']);
    const p = planHooks(f61());
    const grab = p.hooks.find((h) => h.symbol === 'try_grab_folio');
    expect(grab?.alternatives[0]?.programs).toEqual(['gup_grab__fexit__try_grab_folio__page']);
    // no folio rmap functions in 6.1, and FS DAX is never rmapped in the old model anyway
    expect(p.notApplicable.find((u) => u.probe === 'folio_unmap')?.reason).toMatch(
      /not applicable to the old/,
    );
    expect(p.unavailable.find((u) => u.probe === 'folio_unmap')).toBeUndefined();
    expect(p.missing).toEqual([]);
  });

  it('every hook offers fentry/fexit first and kprobe/kretprobe as the fallback for the same function', () => {
    const h = planHooks(f73()).hooks.find((x) => x.target === 'vmf_insert_page_mkwrite');
    expect(h?.alternatives).toEqual([
      { via: 'fentry', programs: ['folio_map_pte__fexit__vmf_insert_page_mkwrite'] },
      {
        via: 'kprobe',
        programs: [
          'folio_map_pte__kprobe__vmf_insert_page_mkwrite',
          'folio_map_pte__kretprobe__vmf_insert_page_mkwrite',
        ],
      },
    ]);
  });

  it('uses kprobes where fentry is refused', () => {
    const f = f73();
    f.progTypes.fentry = { loads: false, detail: 'load refused: Operation not permitted (EPERM)' };
    const c = chosen(f);
    expect(c.zone_device_free).toEqual(['free_zone_device_folio:kprobe']);
    expect(c.dax_fault_pte).toEqual(['fs_dax:dax_pte_fault_done:tp_btf']);
  });
});

describe('the restricted development host', () => {
  it('plans only the fs_dax tracepoint probes and reports the rest as unavailable with the refusal', () => {
    const p = planHooks(fDev());
    expect(p.probes).toEqual(['dax_fault_pte', 'dax_fault_pmd']);
    expect(p.hooks.map((h) => h.alternatives.map((a) => a.via))).toEqual([
      ['tp_btf', 'tracepoint'],
      ['tp_btf', 'tracepoint'],
    ]);
    const free = p.unavailable.find((u) => u.probe === 'zone_device_free');
    expect(free?.reason).toBe(
      'free_zone_device_folio: fentry refused (EPERM), kprobe refused (ENOENT); free_zone_device_page: not in /proc/kallsyms',
    );
    // dax_disassociate_entry is inlined entirely in that build
    expect(p.unavailable.find((u) => u.probe === 'dax_entry_remove')?.reason).toMatch(
      /not in \/proc\/kallsyms/,
    );
  });

  it('is not fatal without --strict, and --strict refuses to start', () => {
    const be = builtBackend();
    const launch = be.plan(fDev(), OPTS);
    expect(launch.probes).toEqual(['dax_fault_pte', 'dax_fault_pmd']);
    expect(launch.unavailable.length).toBeGreaterThan(10);
    let err: unknown;
    try {
      be.plan(fDev(), { ...OPTS, strict: true });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({
      code: 'DAXMON_E_LIBBPF_PROBE_UNAVAILABLE',
      message: /^--strict: pgmap_register/,
    });
  });
});

describe('the loader command line', () => {
  it('enables exactly the chosen programs, alternatives joined by | and pairs by +', () => {
    const launch = builtBackend().plan(f73(), OPTS);
    expect(launch.command).toBe('/opt/daxmon/bpf/build/daxmon-loader');
    expect(launch.args[0]).toBe('--enable');
    const hooks = (launch.args[1] ?? '').split(',');
    expect(hooks).toContain(
      'folio_map_pte__fexit__vmf_insert_page_mkwrite|folio_map_pte__kprobe__vmf_insert_page_mkwrite+folio_map_pte__kretprobe__vmf_insert_page_mkwrite',
    );
    expect(hooks).toContain(
      'dax_entry_remove__kprobe__dax_disassociate_entry__entry_only@dax_disassociate_entry.isra.0',
    );
    expect(hooks).toContain(
      'dax_fault_pte__tp_btf__dax_pte_fault_done|dax_fault_pte__tracepoint__dax_pte_fault_done',
    );
    expect(launch.args.slice(2, 4)).toEqual(['--pgmap-range', `${0x140000}:${262144}`]);
    expect(launch.args.at(-1)).toBe('/opt/daxmon/bpf/build/daxmon.bpf.o');
    expect(launch.args).not.toContain('--strict');
    expect(launch.probes).toContain('folio_unmap');
  });

  it('unprivileged (DAXMON_CAPS_LAUNCHER): daxmon-caps LOADER ARGS…, the object still last', () => {
    const direct = builtBackend().plan(f73(), OPTS);
    const be = createLibbpfBackend({
      exists: () => true,
      defaultBuildDir: '/opt/daxmon/bpf/build',
      launcher: '/opt/daxmon/bpf/build/daxmon-caps',
    });
    const launch = be.plan(f73(), OPTS);
    expect(launch.command).toBe('/opt/daxmon/bpf/build/daxmon-caps');
    expect(launch.args).toEqual(['/opt/daxmon/bpf/build/daxmon-loader', ...direct.args]);
    expect(launch.args.at(-1)).toBe('/opt/daxmon/bpf/build/daxmon.bpf.o');
  });

  it('tracefs unreadable (root-only, as for the unprivileged daxmon): the fs_dax tracepoints stay planned', () => {
    const f = f73();
    f.tracefs = {
      path: '/sys/kernel/tracing',
      events: new Set(),
      reason: 'DAXMON_E_TRACEFS_UNREADABLE: tracefs at /sys/kernel/tracing cannot be read (EACCES)',
    };
    const hooks = planHooks(f).hooks.map((h) => h.probe);
    expect(hooks).toContain('dax_fault_pte');
    expect(hooks).toContain('dax_fault_pmd');
    expect(planHooks(f).hooks.length).toBe(planHooks(f73()).hooks.length);
  });

  it('passes --strict on to the loader', () => {
    expect(builtBackend().plan(f73(), { ...OPTS, strict: true }).args).toContain('--strict');
  });

  it('leaves out namespaces whose range it could not read (not root)', () => {
    const f = f73();
    f.pmem = {
      ...f.pmem!,
      zoneDevice: [{ device: 'namespace0.0', memoryType: 'fs_dax', resource: null, size: null }],
    };
    expect(pgmapRangeArgs(f)).toEqual([]);
  });

  it('names the .isra symbol only on kprobe programs', () => {
    const spec = enableSpec(planHooks(f73()).hooks.filter((h) => h.probe === 'dax_entry_remove'));
    expect(spec).toBe(
      'dax_entry_remove__kprobe__dax_disassociate_entry__entry_only@dax_disassociate_entry.isra.0',
    );
  });

  it('decodes the loader attach and ready frames into probe_status events', () => {
    const launch = builtBackend().plan(f73(), OPTS);
    const frameOf = (obj: unknown): Buffer => {
      const body = Buffer.from(JSON.stringify(obj));
      const hdr = Buffer.alloc(8);
      hdr.writeUInt32LE(body.length, 0);
      hdr.writeUInt16LE(2, 4);
      hdr.writeUInt16LE(1, 6);
      return Buffer.concat([hdr, body]);
    };
    const out: DaxEvent[] = [];
    launch.stdout.push(
      Buffer.concat([
        frameOf({
          kind: 'attach',
          probe: 'zone_device_free',
          program: 'zone_device_free__fentry__free_zone_device_folio',
          target: 'fentry/free_zone_device_folio',
          attached: true,
          error: null,
        }),
        frameOf({ kind: 'ready', probes: { zone_device_free: { hooks: 1, attached: 1 } } }),
      ]),
      (e) => out.push(e),
    );
    expect(out).toMatchObject([
      { type: 'probe_status', backend: 'libbpf', probe: 'zone_device_free', attached: true },
    ]);
  });
});

describe('wire contract refinements made with the probes', () => {
  it('a pgmap read off a folio (DAXMON_F_DISCOVERED) decodes as source "discovered"', () => {
    const launch = builtBackend().plan(f73(), OPTS);
    const rec = Buffer.alloc(96);
    rec.writeUInt16LE(1, 8); // DAXMON_REC_PGMAP_REGISTERED
    rec.writeUInt16LE(1 << 2, 10); // DAXMON_F_DISCOVERED
    rec.writeInt32LE(-1, 20);
    rec.writeBigUInt64LE(0x140000n, 40);
    rec.writeBigUInt64LE(0xff1b000000a00000n, 48);
    rec.writeBigUInt64LE(262144n, 64);
    rec[93] = 3; // MEMORY_DEVICE_FS_DAX
    const hdr = Buffer.alloc(8);
    hdr.writeUInt32LE(96, 0);
    hdr.writeUInt16LE(1, 4);
    hdr.writeUInt16LE(1, 6);
    const out: DaxEvent[] = [];
    launch.stdout.push(Buffer.concat([hdr, rec]), (e) => out.push(e));
    expect(out).toMatchObject([
      {
        type: 'pgmap_registered',
        pgmapType: 'fs_dax',
        source: 'discovered',
        ranges: [{ pfn: 0x140000, nrPages: 262144 }],
      },
    ]);
  });
});

describe('availability', () => {
  it('needs kernel BTF', () => {
    const f = f73();
    f.btf = { vmlinux: false, path: '/sys/kernel/btf/vmlinux', reason: 'ENOENT' };
    expect(builtBackend().available(f)).toMatchObject({ ok: false, reason: /DAXMON_E_LIBBPF_NO_BTF/ });
  });

  it('needs the built loader and object', () => {
    const be = createLibbpfBackend({ exists: () => false, defaultBuildDir: '/nowhere' });
    expect(be.available(f73())).toMatchObject({ ok: false, reason: /npm run build:bpf/ });
  });

  it('needs one program type that loads', () => {
    const f = fDev();
    f.progTypes.tracepoint = { loads: false, detail: 'EPERM' };
    f.progTypes.tp_btf = { loads: false, detail: 'EPERM' };
    expect(builtBackend().available(f)).toMatchObject({ ok: false });
    expect(builtBackend().available(fDev())).toEqual({ ok: true });
  });
});

const BUILD = path.join(PACKAGE_ROOT, 'bpf', 'build');
const built = existsSync(path.join(BUILD, 'daxmon-loader')) && existsSync(path.join(BUILD, 'daxmon.bpf.o'));

describe.skipIf(!built)('the built object (npm run build:bpf)', () => {
  it('has every program the plan can name, under the probe its name says', () => {
    const list = JSON.parse(
      execFileSync(path.join(BUILD, 'daxmon-loader'), ['--list', path.join(BUILD, 'daxmon.bpf.o')], {
        encoding: 'utf8',
      }),
    ) as { programs: { name: string; probe: string; target: string }[] };
    const byName = new Map(list.programs.map((p) => [p.name, p]));
    for (const def of LIBBPF_PROBES) {
      for (const h of def.hooks) {
        const programs = [...h.variants.flatMap((v) => v.programs), ...(h.clone?.programs ?? [])];
        for (const name of programs) {
          expect(byName.get(name), `${name} missing from daxmon.bpf.o`).toBeDefined();
          expect(byName.get(name)?.probe).toBe(def.probe);
        }
      }
    }
  });
});
