import type { DaxFs, PmemKind, RefcountModel } from '../../lab/src/index.js';

/** An exact count, or a range where the kernel's timing legitimately decides (with the reason). */
export type Expect = number | { min: number; max?: number; why: string };

export interface TruthContext {
  model: RefcountModel;
  series: string;
  pmem: PmemKind;
  fs: DaxFs | undefined;
}

/**
 * Expected counts for one step of a workload (counter names from observer-bpftrace.ts, plus
 * `entry_insert`/`entry_remove`: pmem DAX entries associated with and removed from a file, which only
 * daxmon observes, dax_insert_entry being static).
 */
export type StepTruth = Record<string, Expect>;

export interface GroundTruth {
  /** Step name → counts; the step order is the workload's (phase base + 1, + 2, ...). */
  steps: Record<string, StepTruth>;
  /** Facts the workload itself reports (e.g. whether truncate blocked), compared exactly. */
  facts?: Record<string, boolean | number | string>;
  /** Known kernel WARN splats this scenario causes (otherwise any WARN fails it). */
  kernelWarnings?: number;
}

/**
 * Counters asserted in every step, so that an event nobody expected fails the scenario instead of
 * passing unnoticed. A counter the kernel cannot hook (the new inserts on 6.x, the old puts on 7.x)
 * is skipped when its expected value is 0.
 */
export const CORE_COUNTERS = [
  'pte_fault',
  'pmd_fault',
  'pmd_fallback',
  'load_hole',
  'pmd_load_hole',
  'writeback_one',
  'insert_page_mkwrite',
  'insert_folio_pmd',
  'insert_mixed_mkwrite',
  'insert_mixed',
  'insert_pfn_pmd',
  'free_zone_device',
  'put_devmap_managed',
  'busy_found',
  'memunmap_pages',
  'kernel_warn',
  'entry_insert',
  'entry_remove',
] as const;

export type CoreCounter = (typeof CORE_COUNTERS)[number];

/** A step in which only the listed counters may be non-zero. */
export function only(counts: Partial<Record<string, Expect>> = {}): StepTruth {
  const t: StepTruth = {};
  for (const c of CORE_COUNTERS) t[c] = 0;
  for (const [k, v] of Object.entries(counts)) if (v !== undefined) t[k] = v;
  return t;
}

/**
 * 4 KiB inserts in each model: the new model maps FS DAX pages as normal pages with
 * vmf_insert_page_mkwrite (fs/dax.c dax_fault_iter), for reads and writes alike; the old one inserts
 * a devmap pfn with vmf_insert_mixed_mkwrite for writes and vmf_insert_mixed for reads.
 */
export function pteInserts(model: RefcountModel, n: number, write: boolean): StepTruth {
  if (model === 'new') return { insert_page_mkwrite: n };
  return write ? { insert_mixed_mkwrite: n } : { insert_mixed: n };
}

/** 2 MiB inserts: vmf_insert_folio_pmd (new) or vmf_insert_pfn_pmd (old). */
export function pmdInserts(model: RefcountModel, n: number): StepTruth {
  return model === 'new' ? { insert_folio_pmd: n } : { insert_pfn_pmd: n };
}

/**
 * The last unmap of an FS DAX folio: the new model frees it (refcount 0, free_zone_device_folio);
 * the old one never frees FS DAX pages (idle is refcount 1), so the count is 0 there.
 */
export function frees(model: RefcountModel, n: number): StepTruth {
  return { free_zone_device: model === 'new' ? n : 0 };
}
