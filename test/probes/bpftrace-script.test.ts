import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { assembleScript, expandIncludes, pageFlagLayout } from '../../src/probes/bpftrace/script.js';
import { BPFTRACE_PROBE_NAMES, probesFor } from '../../src/probes/catalogue.js';
import { loadSnippetLibrary, parseHook, parseSnippet } from '../../src/probes/bpftrace/snippet.js';
import { BpftraceError } from '../../src/probes/bpftrace/errors.js';
import { LINE_FIELDS, STACK_TAGS } from '../../src/probes/bpftrace/format.js';
import { facts61, facts612, facts73, factsDevHost } from './bpftrace-facts.js';

const lib = loadSnippetLibrary(path.resolve(__dirname, '../../bpf/bpftrace'));

function summary(a: ReturnType<typeof assembleScript>) {
  return {
    included: Object.fromEntries(a.included.map((p) => [p.probe, p.files])),
    unavailable: Object.fromEntries(a.unavailable.map((u) => [u.probe, u.reason])),
    notApplicable: Object.fromEntries(a.notApplicable.map((u) => [u.probe, u.reason])),
  };
}

describe('bpftrace script assembly picks, per kernel, the snippets whose hooks exist', () => {
  it('7.3 (new model): every probe but devmap_put, with the new-model variants', () => {
    const a = assembleScript(facts73(), lib);
    const s = summary(a);
    expect(Object.keys(s.included).sort()).toEqual(probesFor('new', 'bpftrace').sort());
    expect(probesFor('new', 'bpftrace')).not.toContain('devmap_put');
    expect(s.included).toMatchObject({
      zone_device_free: ['zone_device_free.bt'],
      folio_map_pte: ['folio_map_pte.new.bt'],
      folio_map_pmd: ['folio_map_pmd.new.bt'],
      dax_entry_remove: ['dax_entry_remove.new.bt'],
      folio_idle: ['folio_idle.new.bt'],
      layout_break: ['layout_break.new.bt'],
      layout_break_sleep: ['layout_break_sleep.ext4.bt', 'layout_break_sleep.xfs.bt'],
    });
    expect(s.notApplicable.devmap_put).toMatch(/new model has no devmap put/);
    expect(s.unavailable.devmap_put).toBeUndefined();
    expect(a.script).toContain('kretfunc:vmf_insert_page_mkwrite');
    expect(a.script).toContain('kprobe:dax_disassociate_entry.isra.0');
    expect(a.script).not.toContain('vmf_insert_pfn_pmd\n');
    expect(a.model).toBe('new');
  });

  it('6.12 (old model): devmap put and pfn_t inserts, no unmap hook, no sleep counter (inlined)', () => {
    const s = summary(assembleScript(facts612(), lib));
    expect(s.included).toMatchObject({
      zone_device_free: ['zone_device_free.bt'],
      devmap_put: ['devmap_put.old.bt'],
      folio_map_pte: ['folio_map_pte.old.bt'],
      folio_map_pmd: ['folio_map_pmd.old.bt'],
      gup_grab: ['gup_grab.bt'],
      dax_entry_remove: ['dax_entry_remove.old.bt'],
      layout_break: ['layout_break.old.ext4.bt', 'layout_break.old.xfs.bt'],
      folio_idle: ['folio_idle.old.bt'],
    });
    expect(s.notApplicable.folio_unmap).toMatch(/pte\/pmd_devmap/);
    expect(s.unavailable.folio_unmap).toBeUndefined();
    expect(s.unavailable.layout_break_sleep).toMatch(
      /not in \/proc\/kallsyms: ext4_wait_dax_page \(module ext4 not loaded/,
    );
  });

  it('6.1 (old model): falls back to the 6.1 names (free_zone_device_page, *_page_refs, try_grab_page, _prot)', () => {
    const a = assembleScript(facts61(), lib);
    const s = summary(a);
    expect(s.included).toMatchObject({
      zone_device_free: ['zone_device_free.61.bt'],
      devmap_put: ['devmap_put.old61.bt'],
      gup_grab: ['gup_grab.61.bt'],
      folio_map_pmd: ['folio_map_pmd.old61.bt'],
    });
    // 6.1 keeps the folio order in _folio_order (offset 81), not _flags_1.
    expect(a.layout.orderOffset).toBe(81);
    expect(a.script).toContain('#define DXM_ORDER_OFF 81');
  });

  it('dev host (kprobes and fentry refused): only the fs_dax tracepoints, the rest unavailable with the reason', () => {
    const a = assembleScript(factsDevHost(), lib);
    const s = summary(a);
    expect(Object.keys(s.included).sort()).toEqual(['dax_fault_pmd', 'dax_fault_pte']);
    expect(s.unavailable.zone_device_free).toMatch(/kfunc \(fentry\/fexit\) refused on this host \(EPERM\)/);
    expect(s.unavailable.dax_entry_remove).toMatch(/refused on this host/);
    expect(s.notApplicable.devmap_put).toMatch(/new model has no devmap put/);
    expect(s.unavailable.devmap_put).toBeUndefined();
    expect(a.unavailable.map((u) => u.probe).sort()).toEqual(
      probesFor('new', 'bpftrace')
        .filter((p) => p !== 'dax_fault_pte' && p !== 'dax_fault_pmd')
        .sort(),
    );
    expect(a.script).toContain('tracepoint:fs_dax:dax_pte_fault_done');
    expect(a.script).not.toContain('kfunc');
    expect(a.script).not.toContain('END {');
  });

  it('reports a missing tracepoint and a kernel without BTF', () => {
    const f = facts73();
    const a = assembleScript(
      {
        ...f,
        tracefs: { path: '/sys/kernel/tracing', events: new Set() },
        btf: { vmlinux: false, path: '/x' },
      },
      lib,
    );
    const s = summary(a);
    expect(s.unavailable.dax_fault_pte).toMatch(/tracefs has no event fs_dax:dax_pte_fault_done/);
    expect(s.unavailable.zone_device_free).toMatch(/needs kernel BTF/);
    // dax_entry_remove.new needs kfunc for its trunc tracking, so it goes too.
    expect(s.unavailable.dax_entry_remove).toBeDefined();
  });

  it('leaves out probes whose attach failed in an earlier run', () => {
    const a = assembleScript(facts73(), lib, { exclude: new Map([['folio_idle', 'attach failed']]) });
    expect(summary(a).unavailable.folio_idle).toBe('attach failed');
    expect(a.script).not.toContain('wake_up_var');
  });

  it('refuses pfn-reading snippets when vmemmap_base is not in kallsyms (CONFIG_KALLSYMS_ALL=n)', () => {
    const f = facts73();
    const s = summary(
      assembleScript({ ...f, config: new Map([...(f.config ?? []), ['KALLSYMS_ALL', 'n']]) }, lib),
    );
    expect(s.unavailable.zone_device_free).toMatch(/vmemmap_base is not in \/proc\/kallsyms/);
    expect(s.included.dax_fault_pte).toBeDefined();
    expect(s.included.layout_break).toBeDefined();
  });

  it('a script clears every map at END, so bpftrace prints no map dump into the event stream', () => {
    const a = assembleScript(facts73(), lib);
    expect(a.script).toMatch(/END \{ .*clear\(@dxm_pgseen\);.*\}/);
    expect(a.script).toMatch(/clear\(@dxm_sleeps\)/);
    expect(a.script).not.toContain('//@include');
  });

  it('computes the page-flags layout from the config: Debian → zone shift 51, mask 7, ZONE_DEVICE 4', () => {
    const w: string[] = [];
    expect(pageFlagLayout(facts73(), w)).toEqual({
      zonesPgshift: 51,
      zonesMask: 7,
      zoneDevice: 4,
      orderOffset: 64,
    });
    expect(
      pageFlagLayout(
        {
          ...facts73(),
          config: new Map([
            ['NUMA', 'n'],
            ['ZONE_DMA32', 'y'],
          ]),
        },
        w,
      ),
    ).toEqual({
      zonesPgshift: 62,
      zonesMask: 3,
      zoneDevice: 3,
      orderOffset: 64,
    });
    expect(w).toEqual([]);
    pageFlagLayout({ ...facts73(), config: null, release: 'weird' }, w);
    expect(w.join(' ')).toMatch(/no kernel config.*cannot parse release/);
  });
});

describe('bpftrace snippet files', () => {
  it('every snippet declares a known probe, and prints only tags the decoder knows', () => {
    for (const s of lib.snippets) {
      expect(BPFTRACE_PROBE_NAMES as readonly string[]).toContain(s.probe);
      for (const m of s.body.matchAll(/printf\("([A-Z]+)(\+?)\\t/g)) {
        expect(Object.keys(LINE_FIELDS)).toContain(m[1]);
        // A stack only ever follows a tag that may carry one (Z and ER print it only when anomalous).
        if (m[2] === '+') expect(STACK_TAGS.has(m[1] as keyof typeof LINE_FIELDS)).toBe(true);
      }
    }
  });

  it('parses hooks with a module, tracepoints, and rejects nonsense', () => {
    expect(parseHook('kfunc:xfs:xfs_break_dax_layouts')).toMatchObject({
      kind: 'kfunc',
      module: 'xfs',
      target: 'xfs_break_dax_layouts',
    });
    expect(parseHook('tracepoint:fs_dax:dax_pte_fault_done')).toMatchObject({
      target: 'fs_dax:dax_pte_fault_done',
    });
    expect(() => parseHook('uprobe:/bin/sh:main')).toThrow(BpftraceError);
    expect(() => parseHook('tracepoint:only')).toThrow(
      expect.objectContaining({ code: 'DAXMON_E_BPFTRACE_SNIPPET_INVALID' }),
    );
  });

  it('rejects a snippet without probe, model or hooks', () => {
    expect(() => parseSnippet('a.bt', '// model: new\n// hooks: kfunc:x\nkfunc:x {}')).toThrow(/probe/);
    expect(() => parseSnippet('a.bt', '// probe: x\n// model: mid\n')).toThrow(/model/);
    expect(() => parseSnippet('a.bt', '// probe: x\n// model: new\nkfunc:x {}')).toThrow(/hooks/);
    expect(() =>
      parseSnippet('a.bt', '// probe: x\n// model: new\n// rank: high\n// hooks: kfunc:x\n'),
    ).toThrow(/rank/);
  });

  it('a missing include is an error naming the snippet', () => {
    expect(() => expandIncludes('//@include nope', new Map(), 'new', 'x.bt')).toThrow(/x\.bt: no lib\/nope/);
  });

  it('an unreadable snippet directory is DAXMON_E_BPFTRACE_SNIPPETS_UNREADABLE', () => {
    expect(() => loadSnippetLibrary('/nonexistent/daxmon')).toThrow(
      expect.objectContaining({ code: 'DAXMON_E_BPFTRACE_SNIPPETS_UNREADABLE' }),
    );
  });
});
