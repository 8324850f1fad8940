/**
 * Fabricated KernelFacts for the bpftrace backend tests: the hook-relevant kallsyms names and
 * tracefs events seen in the VM testbed (Debian 7.3.4, 6.12.117, 6.1.0-56 guests, 2026-11-25)
 * and on the restricted 6.18 development host.
 */
import type { KernelFacts, ProgTypeResult } from '../../src/kernel/facts.js';

const COMMON = [
  'memremap_pages',
  'memmap_init_zone_device',
  'memunmap_pages',
  'devm_memunmap_pages',
  'dev_pagemap_percpu_release',
  'vmf_insert_mixed_mkwrite',
  'vmf_insert_mixed',
  'dax_insert_entry',
  '__dax_invalidate_entry',
  'dax_delete_mapping_entry',
  'dax_layout_busy_page_range',
  'dax_layout_busy_page',
  'try_grab_folio',
  'gup_put_folio',
  'unpin_user_page',
  'check_vma_flags',
  'wake_up_var',
  'kill_dax',
  'dax_iomap_fault',
  'get_dev_pagemap',
  '__folio_put',
];

export const KALLSYMS_7_3 = [
  ...COMMON,
  'free_zone_device_folio',
  'vmf_insert_page_mkwrite',
  'vmf_insert_folio_pmd',
  'vmf_insert_folio_pud',
  'vmf_insert_pfn_pmd',
  'dax_disassociate_entry.isra.0',
  'dax_delete_mapping_range',
  'dax_break_layout',
  'dax_break_layout_final',
  'folio_remove_rmap_ptes',
  'folio_remove_rmap_pmd',
  'try_grab_folio_fast',
  'xfs_break_dax_layouts',
  'xfs_wait_dax_page',
  'ext4_break_layouts',
  'ext4_wait_dax_page',
];

export const KALLSYMS_6_12 = [
  ...COMMON,
  'free_zone_device_folio',
  '__put_devmap_managed_folio_refs',
  'vmf_insert_pfn_pmd',
  'dax_disassociate_entry',
  'folio_remove_rmap_ptes',
  'folio_remove_rmap_pmd',
  'try_grab_folio_fast',
  'xfs_break_dax_layouts',
  'ext4_break_layouts',
];

export const KALLSYMS_6_1 = [
  ...COMMON,
  'free_zone_device_page',
  '__put_devmap_managed_page_refs',
  'vmf_insert_pfn_pmd_prot',
  'dax_disassociate_entry',
  'try_grab_page',
  'xfs_break_dax_layouts',
  'ext4_break_layouts',
];

const FS_DAX_EVENTS = ['fs_dax:dax_pte_fault_done', 'fs_dax:dax_pmd_fault_done', 'fs_dax:dax_pte_fault'];

const yes: ProgTypeResult = { loads: true, detail: 'loaded' };
const refused: ProgTypeResult = { loads: false, detail: 'EPERM' };

const DEBIAN_CONFIG = new Map([
  ['NUMA', 'y'],
  ['NODES_SHIFT', '10'],
  ['ZONE_DMA', 'y'],
  ['ZONE_DMA32', 'y'],
  ['ZONE_DEVICE', 'y'],
  ['KALLSYMS_ALL', 'y'],
  ['KPROBES', 'y'],
]);

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
    tracefs: { path: '/sys/kernel/tracing', events: new Set(FS_DAX_EVENTS) },
    progTypes: { tracepoint: yes, raw_tp: yes, tp_btf: yes, kprobe: yes, fentry: yes },
    config: DEBIAN_CONFIG,
    ...over,
  };
}

export const facts73 = (): KernelFacts => facts('7.3.4+deb13-amd64', 'new', KALLSYMS_7_3);
export const facts612 = (): KernelFacts => facts('6.12.117+deb13-amd64', 'old', KALLSYMS_6_12);
export const facts61 = (): KernelFacts => facts('6.1.0-56-amd64', 'old', KALLSYMS_6_1);

/** The development machines: 6.18 new model, tracepoints load, kprobes and fentry refused. */
export const factsDevHost = (): KernelFacts =>
  facts(
    '6.18.44-fc-v669',
    'new',
    [...KALLSYMS_7_3.filter((f) => f !== 'dax_disassociate_entry.isra.0'), 'dax_folio_put.isra.0'],
    {
      progTypes: { tracepoint: yes, raw_tp: yes, tp_btf: yes, kprobe: refused, fentry: refused },
      config: new Map([...DEBIAN_CONFIG, ['KALLSYMS_ALL', 'n'], ['KPROBES', 'n']]),
    },
  );
