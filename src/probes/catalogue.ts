/**
 * The probe catalogue: every logical probe daxmon knows, in one place (issue 12, item 8).
 *
 * A probe name is the `probe` field of probe_status, the `probe` label of daxmon_probe_attached,
 * the prefix of every program in bpf/libbpf/daxmon.bpf.c (`PROBE__TYPE__TARGET`), the
 * `// probe:` header of every snippet in bpf/bpftrace/, and what a check lists in `requires`.
 * `ProbeName` is derived from this table, so a check, the libbpf plan or a test naming a probe
 * that is not here does not compile; test/probes/catalogue.test.ts proves the backends' files
 * agree with it (programs, snippets, hooks, events).
 *
 * Two kinds of entry:
 * - `hook`: kernel functions or tracepoints one or both backends attach to. `hooks` lists, per
 *   refcount model, every function or tracepoint either backend uses for it there (the libbpf plan
 *   and the bpftrace snippets pick among them per host); a model the probe does not apply to has
 *   none, and the backends report the probe "not applicable" there.
 * - `capability`: something a check needs that is not a kernel hook of either backend (the
 *   struct-page scanner, the pgmap's ->page_free callback). A component that provides one reports
 *   it with probe_status like a probe; nothing in the live daemon does yet, so the checks that
 *   need one run only on streams that declare it (replays, `--assume-probes`).
 *
 * Pure data: no I/O.
 */
import type { EventType, RefcountModel } from '../events/types.js';

export type ProbeBackend = 'libbpf' | 'bpftrace';

/**
 * One hook, as one or more kernel function names that are the same hook across releases (6.1's
 * `free_zone_device_page`, 6.2+'s `free_zone_device_folio`): doctor shows the first one present.
 * A name may exist only as a compiler clone (`dax_disassociate_entry.isra.0`): listed without the
 * suffix, found by kprobe.
 */
export interface FunctionHook {
  readonly kind: 'function';
  readonly names: readonly [string, ...string[]];
  /** The module the functions live in (bpftrace's `kfunc:MODULE:FN`), when not vmlinux. */
  readonly module?: 'xfs' | 'ext4';
}

export interface TracepointHook {
  readonly kind: 'tracepoint';
  /** `category:name`, as in tracefs. */
  readonly name: `${string}:${string}`;
}

export type KernelHook = FunctionHook | TracepointHook;

export interface HookProbe {
  readonly kind: 'hook';
  /** The refcount models whose events this probe exists for; elsewhere it is "not applicable". */
  readonly models: readonly RefcountModel[];
  /** Event types its programs produce (layout_break_sleep produces none: it counts sleeps). */
  readonly events: readonly EventType[];
  readonly hooks: { readonly [M in RefcountModel]: readonly KernelHook[] };
  readonly backends: readonly ProbeBackend[];
  /** Legitimately absent on some builds (an inlined static callback): never fatal with --strict. */
  readonly optional?: boolean;
  readonly summary: string;
}

export interface CapabilityProbe {
  readonly kind: 'capability';
  /** Event types (or fields of them) it makes meaningful. */
  readonly events: readonly EventType[];
  readonly summary: string;
}

export type CatalogueEntry = HookProbe | CapabilityProbe;

const fn = (...names: [string, ...string[]]): FunctionHook => ({ kind: 'function', names });
const modFn = (module: 'xfs' | 'ext4', name: string): FunctionHook => ({
  kind: 'function',
  names: [name],
  module,
});
const tp = (name: `${string}:${string}`): TracepointHook => ({ kind: 'tracepoint', name });
/** The same hooks in both models. */
const both = (...hooks: KernelHook[]): HookProbe['hooks'] => ({ old: hooks, new: hooks });
const BOTH_MODELS = ['old', 'new'] as const satisfies readonly RefcountModel[];
const BOTH_BACKENDS = ['libbpf', 'bpftrace'] as const satisfies readonly ProbeBackend[];

/**
 * Every probe, in the order the backends plan and report them (docs/kernel-model.md §4.2, §8;
 * docs/probes.md has the per-generation table).
 */
export const PROBE_CATALOGUE = {
  pgmap_register: {
    kind: 'hook',
    models: BOTH_MODELS,
    events: ['pgmap_registered'],
    // libbpf: once per range from memmap_init_zone_device; bpftrace: the memremap_pages return.
    hooks: both(fn('memmap_init_zone_device'), fn('memremap_pages')),
    backends: BOTH_BACKENDS,
    summary: 'a dev_pagemap is registered (its type, ranges, ->page_free)',
  },
  pgmap_teardown: {
    kind: 'hook',
    models: BOTH_MODELS,
    events: ['pgmap_teardown_begin', 'pgmap_teardown_done'],
    hooks: both(fn('memunmap_pages')),
    backends: BOTH_BACKENDS,
    summary: 'memunmap_pages() begins and ends',
  },
  pgmap_ref_release: {
    kind: 'hook',
    models: BOTH_MODELS,
    events: ['pgmap_ref_released'],
    hooks: both(fn('dev_pagemap_percpu_release')),
    backends: BOTH_BACKENDS,
    summary: "the pgmap's percpu ref dropped to zero",
  },
  dax_fault_pte: {
    kind: 'hook',
    models: BOTH_MODELS,
    events: ['dax_fault'],
    hooks: both(tp('fs_dax:dax_pte_fault_done')),
    backends: BOTH_BACKENDS,
    summary: 'a PTE-sized DAX fault completed',
  },
  dax_fault_pmd: {
    kind: 'hook',
    models: BOTH_MODELS,
    events: ['dax_fault'],
    hooks: both(tp('fs_dax:dax_pmd_fault_done')),
    backends: BOTH_BACKENDS,
    summary: 'a PMD-sized DAX fault completed',
  },
  dax_entry_insert: {
    kind: 'hook',
    models: BOTH_MODELS,
    events: ['dax_entry_insert'],
    hooks: both(fn('dax_insert_entry')),
    backends: BOTH_BACKENDS,
    summary: 'a DAX entry is stored in the mapping',
  },
  dax_entry_remove: {
    kind: 'hook',
    models: BOTH_MODELS,
    events: ['dax_entry_remove'],
    hooks: {
      old: [fn('dax_disassociate_entry')],
      // bpftrace (7.x) takes `trunc` from the callers, the clone having dropped that argument.
      new: [fn('dax_disassociate_entry'), fn('dax_delete_mapping_range'), fn('__dax_invalidate_entry')],
    },
    backends: BOTH_BACKENDS,
    summary: 'a DAX entry is removed (truncate, hole punch, invalidation)',
  },
  folio_map_pte: {
    kind: 'hook',
    models: BOTH_MODELS,
    events: ['folio_map'],
    hooks: {
      old: [fn('vmf_insert_mixed_mkwrite'), fn('vmf_insert_mixed')],
      new: [fn('vmf_insert_page_mkwrite'), fn('vmf_insert_mixed_mkwrite'), fn('vmf_insert_mixed')],
    },
    backends: BOTH_BACKENDS,
    summary: 'a ZONE_DEVICE page is put into a PTE',
  },
  folio_map_pmd: {
    kind: 'hook',
    models: BOTH_MODELS,
    events: ['folio_map'],
    hooks: {
      // 6.1: vmf_insert_pfn_pmd() is an inline wrapper of vmf_insert_pfn_pmd_prot().
      old: [fn('vmf_insert_pfn_pmd', 'vmf_insert_pfn_pmd_prot')],
      new: [fn('vmf_insert_folio_pmd'), fn('vmf_insert_pfn_pmd')],
    },
    backends: BOTH_BACKENDS,
    summary: 'a ZONE_DEVICE folio is put into a PMD',
  },
  folio_map_pud: {
    kind: 'hook',
    models: BOTH_MODELS,
    events: ['folio_map'],
    hooks: {
      old: [fn('vmf_insert_pfn_pud', 'vmf_insert_pfn_pud_prot')],
      new: [fn('vmf_insert_folio_pud'), fn('vmf_insert_pfn_pud')],
    },
    backends: ['libbpf'],
    summary: 'a ZONE_DEVICE folio is put into a PUD',
  },
  folio_unmap: {
    kind: 'hook',
    // Old-model FS DAX mappings are pte_devmap and never rmapped (libbpf still attaches where the
    // functions exist, for the other ZONE_DEVICE types).
    models: ['new'],
    events: ['folio_unmap'],
    hooks: { old: [], new: [fn('folio_remove_rmap_ptes'), fn('folio_remove_rmap_pmd')] },
    backends: BOTH_BACKENDS,
    summary: "a mapping's rmap is removed",
  },
  gup_grab: {
    kind: 'hook',
    models: BOTH_MODELS,
    events: ['gup'],
    hooks: {
      // 6.10 ("mm: gup: stop abusing try_grab_folio") renamed try_grab_page to try_grab_folio
      // and the old try_grab_folio to try_grab_folio_fast.
      old: [fn('try_grab_folio'), fn('try_grab_folio_fast', 'try_grab_page')],
      new: [fn('try_grab_folio'), fn('try_grab_folio_fast')],
    },
    backends: BOTH_BACKENDS,
    summary: 'GUP takes a reference or a pin',
  },
  gup_put: {
    kind: 'hook',
    models: BOTH_MODELS,
    events: ['gup'],
    hooks: both(fn('gup_put_folio')),
    backends: BOTH_BACKENDS,
    summary: 'GUP drops a reference or a pin',
  },
  gup_longterm_check: {
    kind: 'hook',
    models: BOTH_MODELS,
    events: ['gup_longterm_refused'],
    hooks: both(fn('check_vma_flags')),
    backends: BOTH_BACKENDS,
    summary: 'a FOLL_LONGTERM pin of a DAX mapping is refused',
  },
  devmap_put: {
    kind: 'hook',
    // The new model has no devmap put: FS DAX folios are put like normal folios.
    models: ['old'],
    events: ['folio_put'],
    hooks: { old: [fn('__put_devmap_managed_folio_refs', '__put_devmap_managed_page_refs')], new: [] },
    backends: BOTH_BACKENDS,
    summary: 'a devmap-managed page reference is put',
  },
  folio_idle: {
    kind: 'hook',
    models: BOTH_MODELS,
    events: ['folio_idle'],
    hooks: both(fn('wake_up_var')),
    backends: BOTH_BACKENDS,
    summary: 'an FS DAX folio went idle (wake_up_var)',
  },
  zone_device_free: {
    kind: 'hook',
    models: BOTH_MODELS,
    events: ['zone_device_free'],
    hooks: {
      old: [fn('free_zone_device_folio', 'free_zone_device_page')],
      new: [fn('free_zone_device_folio')],
    },
    backends: BOTH_BACKENDS,
    summary: 'a ZONE_DEVICE folio reached refcount 0 and is freed',
  },
  busy_page: {
    kind: 'hook',
    models: BOTH_MODELS,
    events: ['busy_page_found'],
    hooks: both(fn('dax_layout_busy_page_range')),
    backends: BOTH_BACKENDS,
    summary: 'a layout break found a busy (still referenced) page',
  },
  layout_break: {
    kind: 'hook',
    models: BOTH_MODELS,
    events: ['layout_break_begin', 'layout_break_end'],
    hooks: {
      old: [modFn('xfs', 'xfs_break_dax_layouts'), modFn('ext4', 'ext4_break_layouts')],
      new: [fn('dax_break_layout'), fn('dax_break_layout_final')],
    },
    backends: BOTH_BACKENDS,
    summary: 'a filesystem waits for busy DAX pages (truncate, hole punch, unbind)',
  },
  layout_break_sleep: {
    kind: 'hook',
    models: BOTH_MODELS,
    // No event of its own: the sleep count of layout_break_end (null when it is not attached).
    events: [],
    // Static callbacks: out of line in Debian's 7.3 modules, inlined in 6.1 and 6.12.
    hooks: both(modFn('xfs', 'xfs_wait_dax_page'), modFn('ext4', 'ext4_wait_dax_page')),
    backends: BOTH_BACKENDS,
    optional: true,
    summary: 'one sleep of a layout break on a busy page',
  },
  scan: {
    kind: 'capability',
    events: ['refcount_sample'],
    summary: 'the struct-page scanner: refcount, compound head and pgmap of every page it reads',
  },
  page_free: {
    kind: 'capability',
    // zone_device_free.pageFreeCalled
    events: ['zone_device_free'],
    summary: "the pgmap's ->page_free callback is observed for each freed folio",
  },
} as const satisfies Record<string, CatalogueEntry>;

/**
 * Events any probe that reads a folio may also produce: the first time one meets a pgmap that
 * registered before daxmon started, it reports it (`pgmap_registered`, source `discovered`).
 */
export const DISCOVERY_EVENTS: readonly EventType[] = ['pgmap_registered'];

type Catalogue = typeof PROBE_CATALOGUE;

/** Every probe and capability name. */
export type ProbeName = keyof Catalogue;
/** Probes backed by kernel hooks. */
export type HookProbeName = {
  [K in ProbeName]: Catalogue[K] extends { kind: 'hook' } ? K : never;
}[ProbeName];
export type CapabilityName = Exclude<ProbeName, HookProbeName>;
/** Probes a given backend implements. */
export type ProbeOf<B extends ProbeBackend> = {
  [K in ProbeName]: Catalogue[K] extends { backends: readonly (infer X)[] }
    ? B extends X
      ? K
      : never
    : never;
}[ProbeName];
export type LibbpfProbeName = ProbeOf<'libbpf'>;
export type BpftraceProbeName = ProbeOf<'bpftrace'>;

/** Every name, in catalogue order. */
export const PROBE_NAMES = Object.keys(PROBE_CATALOGUE) as ProbeName[];

export function isProbeName(name: string): name is ProbeName {
  return Object.hasOwn(PROBE_CATALOGUE, name);
}

/** The entry of one name, typed as the union (for code that looks at `kind`). */
export function catalogueEntry(name: ProbeName): CatalogueEntry {
  return PROBE_CATALOGUE[name];
}

export function hookProbe(name: HookProbeName): HookProbe {
  return PROBE_CATALOGUE[name];
}

function isHook(name: ProbeName): name is HookProbeName {
  return PROBE_CATALOGUE[name].kind === 'hook';
}

export const HOOK_PROBES: readonly HookProbeName[] = PROBE_NAMES.filter(isHook);
export const CAPABILITIES: readonly CapabilityName[] = PROBE_NAMES.filter(
  (n): n is CapabilityName => !isHook(n),
);

function implementedBy<B extends ProbeBackend>(backend: B): ProbeOf<B>[] {
  return HOOK_PROBES.filter((n) => hookProbe(n).backends.includes(backend)) as ProbeOf<B>[];
}

/** The probes of each backend, in catalogue order (the order it plans and reports them). */
export const LIBBPF_PROBE_NAMES: readonly LibbpfProbeName[] = implementedBy('libbpf');
export const BPFTRACE_PROBE_NAMES: readonly BpftraceProbeName[] = implementedBy('bpftrace');

/** The probes that apply to a model (the others are "not applicable" there), optionally of one backend. */
export function probesFor(model: RefcountModel, backend?: ProbeBackend): HookProbeName[] {
  return HOOK_PROBES.filter((n) => {
    const p = hookProbe(n);
    return p.models.includes(model) && (backend === undefined || p.backends.includes(backend));
  });
}

/**
 * The kernel functions the probes of a model hook, one entry per hook (names that are the same hook
 * across releases together), in catalogue order, without repeats: what `daxmon doctor` looks for.
 */
export function hookedFunctions(model: RefcountModel): (readonly string[])[] {
  const out: (readonly string[])[] = [];
  const seen = new Set<string>();
  for (const n of probesFor(model)) {
    for (const h of hookProbe(n).hooks[model]) {
      if (h.kind !== 'function') continue;
      const key = h.names.join(' ');
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(h.names);
    }
  }
  return out;
}
