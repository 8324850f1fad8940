/**
 * The kernel's refcount model as pure functions: the idle refcount per page type and generation
 * (docs/kernel-model.md §2.4, §3) and the classification of a folio's counts into a lifecycle state.
 */
import type { MemoryType, RefcountModel } from '../events/types.js';
import { STATE_CODE } from './folio-store.js';

/**
 * Refcount of an unmapped, unpinned page.
 * - FS_DAX: 1 before 6.15 (`__init_zone_device_page` leaves it at 1 and puts stop at 1 in
 *   `__put_devmap_managed_folio_refs`), 0 from 6.15 (reset to 0; `dax_page_is_idle` tests == 0).
 * - GENERIC (device-dax): 1 in both (`free_zone_device_folio` does `folio_set_count(1)` in 6.18).
 * - PCI_P2PDMA: 1 before, 0 after (6.18 `__init_zone_device_page` resets it).
 * - PRIVATE/COHERENT: 0 in both (allocated by `zone_device_page_init`).
 */
export function idleRefcount(type: MemoryType, model: RefcountModel): number {
  switch (type) {
    case 'fs_dax':
    case 'pci_p2pdma':
      return model === 'old' ? 1 : 0;
    case 'generic':
      return 1;
    case 'private':
    case 'coherent':
      return 0;
  }
}

/**
 * Does daxmon see a folio of this type being (re)allocated? FS DAX: a DAX entry insert or a map
 * hands out the folio; device-dax: a map. Device-private/coherent and P2PDMA folios are handed out
 * by their driver (`zone_device_folio_init` after taking them off its own free list, the p2pdma
 * gen_pool) with no hooked event, so for them a free after a free of one pfn is the normal
 * lifecycle, not evidence of an underflow (docs/kernel-model.md §13, VM hmm-tests).
 */
export function allocationObserved(type: MemoryType): boolean {
  return type === 'fs_dax' || type === 'generic';
}

/** The pin bias FOLL_PIN adds to an order-0 folio's refcount (GUP_PIN_COUNTING_BIAS). */
export function pinRefs(order: number, refs: number): number {
  return order === 0 ? refs * 1024 : refs;
}

/**
 * Lifecycle state code (STATE_CODE) from counts. Order matters: a pinned page is usually mapped
 * too, and "pinned" is what explains a busy truncate. Scalar arguments: this runs per event.
 */
export function classify(
  refcount: number,
  mapcount: number,
  gupRefs: number,
  freed: boolean,
  devmapMapped: boolean,
  idle: number,
): number {
  if (freed && refcount === 0) return STATE_CODE.free;
  if (gupRefs > 0) return STATE_CODE.pinned;
  if (mapcount > 0) return STATE_CODE.mapped;
  // Old model: a devmap mapping was seen, its unmap is invisible (docs/kernel-model.md §12).
  if (devmapMapped) return STATE_CODE.mapped_unknown;
  if (refcount > idle) return STATE_CODE.referenced;
  return STATE_CODE.idle;
}

/** vm_fault_t bits that mean the fault failed (VM_FAULT_ERROR in include/linux/mm_types.h). */
export const VM_FAULT_ERROR = 0x1 | 0x2 | 0x10 | 0x20 | 0x40 | 0x800;

export function faultSucceeded(ret: number): boolean {
  return (ret & VM_FAULT_ERROR) === 0;
}
