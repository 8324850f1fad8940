/**
 * What daxmon knows about the running kernel before it attaches anything. Gathered once at
 * start-up by `gatherKernelFacts()` (src/kernel/gather.ts) and passed to hook selection, the
 * checks (refcount model) and `daxmon doctor`. Plain data so it can be built in tests.
 */
import type { RefcountModel } from '../events/types.js';
import type { BtfModelFacts } from './btf.js';
import type { PmemInventory } from './pmem.js';
import type { ToolVersions } from './tools.js';

export const PROG_TYPES = ['tracepoint', 'raw_tp', 'tp_btf', 'kprobe', 'fentry'] as const;
export type ProgType = (typeof PROG_TYPES)[number];

export interface ProgTypeResult {
  /** null: could not be tested (no checker binary, no permission to try). */
  loads: boolean | null;
  detail: string;
}

export interface ModelVerdict {
  model: RefcountModel;
  /** How the verdict was reached: `kallsyms`, `btf`, `release` (heuristic) or `override`. */
  source: 'kallsyms' | 'btf' | 'release' | 'override';
  /** Human-readable facts behind the verdict, e.g. "kallsyms has vmf_insert_page_mkwrite". */
  evidence: string[];
}

export interface KernelFacts {
  release: string;
  model: ModelVerdict;
  btf: {
    vmlinux: boolean;
    path: string;
    /** Answers to docs/kernel-model.md §6 step 2 read from the blob; null/absent if it could not be parsed. */
    types?: BtfModelFacts | null;
    /** Why BTF is missing or unusable (`DAXMON_E_BTF_*: …`). */
    reason?: string;
  };
  /**
   * Function symbols from /proc/kallsyms (text symbols, module ones included, without the
   * `[module]` suffix). Names only: addresses are never kept here (KASLR).
   */
  kallsyms: {
    readable: boolean;
    functions: ReadonlySet<string>;
    /** Modules that contributed functions (`xfs`, `nd_pmem`, …). */
    modules?: ReadonlySet<string>;
    /** All addresses read as zero (kptr_restrict / not root). Names are valid either way. */
    addressesHidden?: boolean;
    reason?: string;
  };
  tracefs: {
    path: string | null;
    events: ReadonlySet<string> /* "category:name" */;
    /** Why tracefs is unusable (not mounted, unreadable). */
    reason?: string;
  };
  progTypes: Record<ProgType, ProgTypeResult>;
  /** Parsed /proc/config.gz or /boot/config-$(uname -r), when readable (CONFIG_ prefix dropped). */
  config: ReadonlyMap<string, string> | null;
  /** The file `config` came from (/proc/config.gz or /boot/config-…), null if none was readable. */
  configSource?: string | null;
  /** nd regions/namespaces, device-dax, /dev nodes, /proc/iomem pmem ranges. */
  pmem?: PmemInventory;
  /** bpftrace, clang, libbpf, bpftool versions; null = not installed. */
  tools?: ToolVersions;
  /**
   * Every reader failure as `"DAXMON_E_…: what to do"`. Gathering never throws: a fact that
   * could not be read is reported here and left at its "unknown" value.
   */
  problems?: string[];
}

/** Is a function attachable by exact name (fentry needs BTF too; kprobe needs kallsyms only)? */
export function hasFunction(facts: KernelFacts, name: string): boolean {
  return facts.kallsyms.functions.has(name);
}

export function hasTracepoint(facts: KernelFacts, category: string, name: string): boolean {
  return facts.tracefs.events.has(`${category}:${name}`);
}
