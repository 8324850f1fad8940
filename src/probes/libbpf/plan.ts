/**
 * The libbpf backend: hook selection for this host and the loader's command line.
 *
 * bpf/libbpf/daxmon.bpf.c carries a program for every hook of docs/kernel-model.md §8, in every form
 * the kernels offer (fentry/fexit, kprobe/kretprobe, tp_btf, tracepoint). Which of them make
 * sense here follows from KernelFacts: the function must be in /proc/kallsyms (static functions
 * are inlined in some builds and not others), the tracepoint in tracefs, and the program type
 * must not be refused (daxmon-bpfcheck). For each hook the loader gets the alternatives in
 * preference order — fentry/fexit first (cheapest, typed arguments), kprobe/kretprobe when the
 * function exists but fentry does not load, and kprobe alone for compiler clones (`.isra.N`),
 * which have no BTF — and attaches the first that works (docs/backend-protocol.md).
 *
 * Pure: no I/O besides the injectable artifact check in `available()`.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Backend, BackendLaunch, BackendLog, BackendOptions } from '../backend.js';
import type { KernelFacts, ProgType } from '../../kernel/facts.js';
import { hasFunction, hasTracepoint } from '../../kernel/facts.js';
import { capsLauncher, helperCommand } from '../../kernel/launcher.js';
import type { RefcountModel } from '../../events/types.js';
import { PACKAGE_ROOT } from '../../package-root.js';
import { DaxmonError, codeIn } from '../../errors.js';
import { LibbpfDecoder, type LoaderMeta } from './records.js';
import { hookProbe, LIBBPF_PROBE_NAMES, type LibbpfProbeName } from '../catalogue.js';

/** The program types of the object, and which daxmon-bpfcheck answer governs each. */
export type LibbpfVia = 'fentry' | 'kprobe' | 'tp_btf' | 'tracepoint';
const GATE: Record<LibbpfVia, ProgType> = {
  fentry: 'fentry',
  kprobe: 'kprobe',
  tp_btf: 'tp_btf',
  tracepoint: 'tracepoint',
};

/**
 * A program of daxmon.bpf.c: `PROBE__TYPE__TARGET`. The loader reports everything before the first
 * `__` as the probe, so a program named for a probe the catalogue lacks does not compile.
 */
export type LibbpfProgram = `${LibbpfProbeName}__${string}`;

/** One way to cover a hook: programs that must all attach (an entry/return pair, or one). */
export interface HookVariant {
  via: LibbpfVia;
  programs: LibbpfProgram[];
}

export interface HookDef {
  /** The kernel function (kallsyms name) or tracepoint (`category:name`). */
  target: string;
  kind: 'function' | 'tracepoint';
  /** In preference order. */
  variants: HookVariant[];
  /**
   * A compiler clone some builds have instead of `target` (`dax_disassociate_entry.isra.0` in
   * Debian's 7.3): only a kprobe reaches it, with programs that read only what the clone kept.
   */
  clone?: { pattern: RegExp; programs: LibbpfProgram[]; why: string };
  /** The hook only applies where this holds (a different signature, the other model's path). */
  when?: (facts: KernelFacts) => boolean;
}

export interface ProbeDef {
  probe: LibbpfProbeName;
  hooks: readonly HookDef[];
  /** The models whose events this probe exists for (from the catalogue); elsewhere "not applicable". */
  models: readonly RefcountModel[];
  /** Legitimately absent on some builds (an inlined static callback): never fatal with --strict. */
  optional?: boolean;
}

const fexitPair = (probe: LibbpfProbeName, fn: string): HookVariant[] => [
  { via: 'fentry', programs: [`${probe}__fexit__${fn}`] },
  { via: 'kprobe', programs: [`${probe}__kprobe__${fn}`, `${probe}__kretprobe__${fn}`] },
];
const fentryOnly = (probe: LibbpfProbeName, fn: string): HookVariant[] => [
  { via: 'fentry', programs: [`${probe}__fentry__${fn}`] },
  { via: 'kprobe', programs: [`${probe}__kprobe__${fn}`] },
];
const fn = (target: string, variants: HookVariant[], extra: Partial<HookDef> = {}): HookDef => ({
  target,
  kind: 'function',
  variants,
  ...extra,
});
const tp = (probe: LibbpfProbeName, category: string, name: string): HookDef => ({
  target: `${category}:${name}`,
  kind: 'tracepoint',
  variants: [
    { via: 'tp_btf', programs: [`${probe}__tp_btf__${name}`] },
    { via: 'tracepoint', programs: [`${probe}__tracepoint__${name}`] },
  ],
});
const mapHook = (probe: LibbpfProbeName, target: string): HookDef => fn(target, fexitPair(probe, target));

/** 6.10 split try_grab_folio's two roles ("mm: gup: stop abusing try_grab_folio"). */
const grabFolioTakesFolio = (f: KernelFacts): boolean => hasFunction(f, 'try_grab_folio_fast');
const isNewModel = (f: KernelFacts): boolean => f.model.model === 'new';

/**
 * The hooks of every probe the catalogue says libbpf implements (docs/kernel-model.md §4.2, §8), with
 * the programs of daxmon.bpf.c for each. Keyed by the catalogue's libbpf probes: a probe missing
 * here, or one the catalogue does not give to libbpf, is a compile error.
 */
const LIBBPF_HOOKS: { readonly [P in LibbpfProbeName]: readonly HookDef[] } = {
  pgmap_register: [
    fn('memmap_init_zone_device', [
      { via: 'fentry', programs: ['pgmap_register__fexit__memmap_init_zone_device'] },
      { via: 'kprobe', programs: ['pgmap_register__kprobe__memmap_init_zone_device'] },
    ]),
  ],
  pgmap_teardown: [
    fn('memunmap_pages', [
      {
        via: 'fentry',
        programs: ['pgmap_teardown__fentry__memunmap_pages', 'pgmap_teardown__fexit__memunmap_pages'],
      },
      {
        via: 'kprobe',
        programs: ['pgmap_teardown__kprobe__memunmap_pages', 'pgmap_teardown__kretprobe__memunmap_pages'],
      },
    ]),
  ],
  pgmap_ref_release: [
    fn('dev_pagemap_percpu_release', fentryOnly('pgmap_ref_release', 'dev_pagemap_percpu_release')),
  ],
  dax_fault_pte: [tp('dax_fault_pte', 'fs_dax', 'dax_pte_fault_done')],
  dax_fault_pmd: [tp('dax_fault_pmd', 'fs_dax', 'dax_pmd_fault_done')],
  dax_entry_insert: [fn('dax_insert_entry', fexitPair('dax_entry_insert', 'dax_insert_entry'))],
  dax_entry_remove: [
    fn(
      'dax_disassociate_entry',
      [
        { via: 'fentry', programs: ['dax_entry_remove__fentry__dax_disassociate_entry'] },
        { via: 'kprobe', programs: ['dax_entry_remove__kprobe__dax_disassociate_entry'] },
      ],
      {
        clone: {
          pattern: /^dax_disassociate_entry\.(isra|constprop)\.\d+$/,
          programs: ['dax_entry_remove__kprobe__dax_disassociate_entry__entry_only'],
          // Debian 7.3.4: the clone takes only the entry (mapping and trunc dropped), checked by
          // disassembly; the program sanity-checks the entry and counts what does not fit.
          why: 'only the compiler clone exists (kprobe reads the entry argument alone)',
        },
      },
    ),
  ],
  folio_map_pte: [
    mapHook('folio_map_pte', 'vmf_insert_page_mkwrite'),
    mapHook('folio_map_pte', 'vmf_insert_mixed_mkwrite'),
    mapHook('folio_map_pte', 'vmf_insert_mixed'),
  ],
  folio_map_pmd: [
    mapHook('folio_map_pmd', 'vmf_insert_folio_pmd'),
    mapHook('folio_map_pmd', 'vmf_insert_pfn_pmd'),
    // 6.1: vmf_insert_pfn_pmd() is an inline wrapper of this one.
    mapHook('folio_map_pmd', 'vmf_insert_pfn_pmd_prot'),
  ],
  folio_map_pud: [
    mapHook('folio_map_pud', 'vmf_insert_folio_pud'),
    mapHook('folio_map_pud', 'vmf_insert_pfn_pud'),
    mapHook('folio_map_pud', 'vmf_insert_pfn_pud_prot'),
  ],
  // Old-model FS DAX mappings are pte_devmap and never rmapped; the hooks exist on 6.12 too
  // (other ZONE_DEVICE types), so attach wherever they exist.
  folio_unmap: [
    fn('folio_remove_rmap_ptes', fentryOnly('folio_unmap', 'folio_remove_rmap_ptes')),
    fn('folio_remove_rmap_pmd', fentryOnly('folio_unmap', 'folio_remove_rmap_pmd')),
  ],
  gup_grab: [
    fn('try_grab_folio', fexitPair('gup_grab', 'try_grab_folio'), { when: grabFolioTakesFolio }),
    fn(
      'try_grab_folio',
      [
        { via: 'fentry', programs: ['gup_grab__fexit__try_grab_folio__page'] },
        {
          via: 'kprobe',
          programs: ['gup_grab__kprobe__try_grab_folio__page', 'gup_grab__kretprobe__try_grab_folio__page'],
        },
      ],
      { when: (f) => !grabFolioTakesFolio(f) },
    ),
    fn('try_grab_folio_fast', fexitPair('gup_grab', 'try_grab_folio_fast')),
    fn('try_grab_page', fexitPair('gup_grab', 'try_grab_page')),
  ],
  gup_put: [fn('gup_put_folio', fexitPair('gup_put', 'gup_put_folio'))],
  gup_longterm_check: [fn('check_vma_flags', fexitPair('gup_longterm_check', 'check_vma_flags'))],
  devmap_put: [
    fn('__put_devmap_managed_folio_refs', fentryOnly('devmap_put', '__put_devmap_managed_folio_refs')),
    fn('__put_devmap_managed_page_refs', fentryOnly('devmap_put', '__put_devmap_managed_page_refs')),
  ],
  folio_idle: [fn('wake_up_var', fentryOnly('folio_idle', 'wake_up_var'))],
  zone_device_free: [
    fn('free_zone_device_folio', fentryOnly('zone_device_free', 'free_zone_device_folio')),
    fn('free_zone_device_page', fentryOnly('zone_device_free', 'free_zone_device_page')),
  ],
  busy_page: [fn('dax_layout_busy_page_range', fexitPair('busy_page', 'dax_layout_busy_page_range'))],
  // The span owner differs per model: in the new model xfs_break_dax_layouts/ext4_break_layouts
  // call dax_break_layout, and nested spans would not pair by thread.
  layout_break: [
    ...['xfs_break_dax_layouts', 'ext4_break_layouts'].map((target) =>
      fn(target, breakVariants(target), { when: (f: KernelFacts) => !isNewModel(f) }),
    ),
    ...['dax_break_layout', 'dax_break_layout_final'].map((target) =>
      fn(target, breakVariants(target), { when: isNewModel }),
    ),
  ],
  // The *_wait_dax_page callbacks are static: out of line in Debian's 7.3 modules, inlined in
  // 6.1 and 6.12 (docs/kernel-model.md §4.2).
  layout_break_sleep: [
    fn('xfs_wait_dax_page', fentryOnly('layout_break_sleep', 'xfs_wait_dax_page')),
    fn('ext4_wait_dax_page', fentryOnly('layout_break_sleep', 'ext4_wait_dax_page')),
  ],
};

/**
 * Every libbpf probe in catalogue order (the order probes are planned and reported), with its
 * models and optionality from the catalogue.
 */
export const LIBBPF_PROBES: readonly ProbeDef[] = LIBBPF_PROBE_NAMES.map((probe) => {
  const p = hookProbe(probe);
  return { probe, hooks: LIBBPF_HOOKS[probe], models: p.models, ...(p.optional ? { optional: true } : {}) };
});

function breakVariants(target: string): HookVariant[] {
  return [
    {
      via: 'fentry',
      programs: [`layout_break__fentry__${target}`, `layout_break__fexit__${target}`],
    },
    {
      via: 'kprobe',
      programs: [`layout_break__kprobe__${target}`, `layout_break__kretprobe__${target}`],
    },
  ];
}

/** What was chosen for one hook: the loader's alternatives, best first. */
export interface PlannedHook {
  probe: LibbpfProbeName;
  target: string;
  /** The kernel symbol actually used (a clone's full name when only the clone exists). */
  symbol: string;
  alternatives: HookVariant[];
}

export interface HookPlan {
  model: RefcountModel;
  hooks: PlannedHook[];
  /** Probes with at least one planned hook. */
  probes: LibbpfProbeName[];
  unavailable: { probe: LibbpfProbeName; reason: string }[];
  /** Probes of the other refcount model only: not missing, not in daxmon_probe_attached. */
  notApplicable: { probe: LibbpfProbeName; reason: string }[];
  /** Unavailable probes this model needs (what --strict refuses). */
  missing: LibbpfProbeName[];
}

function gateOk(facts: KernelFacts, via: LibbpfVia): boolean {
  return facts.progTypes[GATE[via]].loads !== false;
}

function gateWhy(facts: KernelFacts, via: LibbpfVia): string {
  const detail = facts.progTypes[GATE[via]].detail;
  // daxmon-bpfcheck ends its detail with the errno name: keep just that, the detail is long
  const errno = /\((E[A-Z0-9]+)\)\s*$/.exec(detail)?.[1];
  return `${via} refused${errno ? ` (${errno})` : detail ? ` (${detail})` : ''}`;
}

function hookPresent(facts: KernelFacts, h: HookDef): { symbol: string; clone: boolean } | null {
  if (h.kind === 'tracepoint') {
    const [cat, name] = h.target.split(':') as [string, string];
    // tracefs not mounted or unreadable (root-only, mode 0700: an unprivileged daxmon sees no
    // event): the loader finds out (tp_btf needs only BTF).
    if (facts.tracefs.path === null || facts.tracefs.events.size === 0 || hasTracepoint(facts, cat, name))
      return { symbol: h.target, clone: false };
    return null;
  }
  if (hasFunction(facts, h.target)) return { symbol: h.target, clone: false };
  if (h.clone) {
    for (const f of facts.kallsyms.functions) if (h.clone.pattern.test(f)) return { symbol: f, clone: true };
  }
  return null;
}

/** Hook selection for this host (pure). */
export function planHooks(facts: KernelFacts): HookPlan {
  const model = facts.model.model;
  const hooks: PlannedHook[] = [];
  const probes: LibbpfProbeName[] = [];
  const unavailable: HookPlan['unavailable'] = [];
  const notApplicable: HookPlan['notApplicable'] = [];
  const missing: LibbpfProbeName[] = [];
  for (const def of LIBBPF_PROBES) {
    const applicable = def.hooks.filter((h) => !h.when || h.when(facts));
    const why: string[] = [];
    let planned = 0;
    for (const h of applicable) {
      const present = hookPresent(facts, h);
      if (!present) {
        why.push(`${h.target}: not in ${h.kind === 'tracepoint' ? 'tracefs' : '/proc/kallsyms'}`);
        continue;
      }
      const variants: HookVariant[] =
        present.clone && h.clone
          ? [{ via: 'kprobe', programs: h.clone.programs }]
          : h.variants.filter((v) => gateOk(facts, v.via));
      const refused = (present.clone ? [{ via: 'kprobe' as const }] : h.variants).filter(
        (v) => !gateOk(facts, v.via),
      );
      if (variants.length === 0 || (present.clone && !gateOk(facts, 'kprobe'))) {
        why.push(`${present.symbol}: ${refused.map((v) => gateWhy(facts, v.via)).join(', ')}`);
        continue;
      }
      hooks.push({ probe: def.probe, target: h.target, symbol: present.symbol, alternatives: variants });
      planned++;
    }
    if (planned > 0) {
      probes.push(def.probe);
      continue;
    }
    if (!def.models.includes(model)) {
      notApplicable.push({
        probe: def.probe,
        reason: `not applicable to the ${model} refcount model (${def.models.join('/')} only)`,
      });
      continue;
    }
    unavailable.push({
      probe: def.probe,
      reason: why.length > 0 ? why.join('; ') : 'no hook for this kernel',
    });
    if (!def.optional) missing.push(def.probe);
  }
  return { model, hooks, probes, unavailable, notApplicable, missing };
}

/** `--enable` syntax of daxmon-loader: HOOK[,HOOK], HOOK = ALT|ALT, ALT = PROG+PROG, PROG[@SYMBOL]. */
export function enableSpec(hooks: readonly PlannedHook[]): string {
  return hooks
    .map((h) =>
      h.alternatives
        .map((v) =>
          v.programs
            .map((p) => (h.symbol !== h.target && v.via === 'kprobe' ? `${p}@${h.symbol}` : p))
            .join('+'),
        )
        .join('|'),
    )
    .join(',');
}

const PAGE_SHIFT = 12;

/**
 * The pfn ranges of pmem namespaces found in sysfs, for the in-kernel filter of the pfn-based
 * hooks (old-model inserts, wake_up_var) before any pgmap hook fires. Approximate (a pfn device's
 * padding and altmap are included): BPF refines them from folio->pgmap as it meets them.
 */
export function pgmapRangeArgs(facts: KernelFacts): string[] {
  const args: string[] = [];
  for (const c of facts.pmem?.zoneDevice ?? []) {
    if (c.resource === null || c.size === null || c.size <= 0) continue;
    const start = Number.parseInt(c.resource, 16);
    if (!Number.isFinite(start) || start <= 0) continue;
    args.push(
      '--pgmap-range',
      `${Math.floor(start / 2 ** PAGE_SHIFT)}:${Math.floor(c.size / 2 ** PAGE_SHIFT)}`,
    );
  }
  return args;
}

export interface LibbpfBackendDeps {
  /** Where the decoder and the loader's stderr report (StreamDecoder.push has no log). */
  log?: BackendLog;
  /** Artifact check for `available()`; defaults to <package>/bpf/build. */
  exists?: (file: string) => boolean;
  /** Default build directory for `available()`, which gets no options. */
  defaultBuildDir?: string;
  /** Extra loader arguments (e.g. `--ringbuf-mb 64`, `--stacks all`). */
  extraArgs?: string[];
  /** Called with loader meta frames the decoder does not turn into events (hello, ready, error). */
  onMeta?: (meta: LoaderMeta) => void;
  /** The capability launcher (default: $DAXMON_CAPS_LAUNCHER; null: spawn the loader directly). */
  launcher?: string | null;
}

export const LOADER_BINARY = 'daxmon-loader';
export const BPF_OBJECT = 'daxmon.bpf.o';

const stderrLog: BackendLog = {
  debug() {},
  info: (msg, fields) => console.error(`daxmon libbpf: ${msg}`, fields ?? ''),
  warn: (msg, fields) => console.error(`daxmon libbpf: warning: ${msg}`, fields ?? ''),
  error: (msg, fields) => console.error(`daxmon libbpf: error: ${msg}`, fields ?? ''),
};

export function createLibbpfBackend(deps: LibbpfBackendDeps = {}): Backend {
  const exists = deps.exists ?? existsSync;
  const log = deps.log ?? stderrLog;
  const defaultBuildDir = deps.defaultBuildDir ?? path.join(PACKAGE_ROOT, 'bpf', 'build');
  return {
    name: 'libbpf',
    available(facts) {
      if (!facts.btf.vmlinux) {
        return {
          ok: false,
          reason: `DAXMON_E_LIBBPF_NO_BTF: the CO-RE probes need kernel BTF (${facts.btf.path}); ${facts.btf.reason ?? 'not found'}`,
        };
      }
      for (const f of [LOADER_BINARY, BPF_OBJECT]) {
        if (!exists(path.join(defaultBuildDir, f))) {
          return {
            ok: false,
            reason: `DAXMON_E_LIBBPF_NOT_BUILT: ${path.join(defaultBuildDir, f)} is missing: run npm run build:bpf`,
          };
        }
      }
      const usable = (['fentry', 'kprobe', 'tp_btf', 'tracepoint'] as const).some(
        (t) => facts.progTypes[t].loads !== false,
      );
      if (!usable) {
        return {
          ok: false,
          reason: 'DAXMON_E_LIBBPF_NO_PROGRAM_TYPE: this kernel refuses every BPF program type daxmon uses',
        };
      }
      return { ok: true };
    },
    plan(facts: KernelFacts, opts: BackendOptions): BackendLaunch {
      const p = planHooks(facts);
      if (p.hooks.length === 0) {
        throw new DaxmonError(
          'DAXMON_E_LIBBPF_NO_PROBES',
          `no probe can attach on this host: ${p.unavailable.map((u) => `${u.probe}: ${u.reason}`).join('; ')}`,
        );
      }
      if (opts.strict && p.missing.length > 0) {
        const why = p.unavailable.filter((u) => p.missing.includes(u.probe));
        throw new DaxmonError(
          'DAXMON_E_LIBBPF_PROBE_UNAVAILABLE',
          `--strict: ${why.map((u) => `${u.probe} (${u.reason})`).join('; ')}`,
        );
      }
      const decoder = new LibbpfDecoder({ log, onMeta: deps.onMeta });
      // Unprivileged daxmon: through daxmon-caps, which checks that the object is the one next
      // to it (docs/privileges.md).
      const launch = helperCommand(
        path.join(opts.bpfBuildDir, LOADER_BINARY),
        [
          '--enable',
          enableSpec(p.hooks),
          ...(opts.strict ? ['--strict'] : []),
          ...pgmapRangeArgs(facts),
          ...(deps.extraArgs ?? []),
          path.join(opts.bpfBuildDir, BPF_OBJECT),
        ],
        deps.launcher === undefined ? capsLauncher() : deps.launcher,
      );
      return {
        command: launch.command,
        args: launch.args,
        probes: p.probes,
        unavailable: p.unavailable,
        notApplicable: p.notApplicable,
        stdout: decoder,
        onStderrLine(line, _emit, l) {
          const text = line.trim();
          if (text === '') return;
          // The loader prints its failures as `DAXMON_E_LOADER_…: message` (bpf/libbpf/loader.c).
          const code = codeIn(text);
          if (code) l.error(`libbpf loader: ${text}`, { code });
          else l.info(`libbpf loader: ${text}`);
        },
      };
    },
  };
}

export const libbpfBackend: Backend = createLibbpfBackend();
