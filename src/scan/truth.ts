/**
 * What a struct page says about its folio, in daxmon's lifecycle states (docs/kernel-model.md §2.4,
 * §3). Pure: the scanner's readings in, a state code out.
 *
 * - Pins: an order-0 folio carries FOLL_PIN as GUP_PIN_COUNTING_BIAS (1024) in its refcount, a
 *   large one in _pincount (mm/gup.c try_grab_folio; folio_maybe_dma_pinned()).
 * - The new model counts one reference per page-table mapping, so references beyond idle that
 *   mappings do not explain are someone else's (dax_busy_page(): ref - mapcount != 0).
 * - The old model maps FS DAX and device-dax pages as devmap PTEs without touching refcount or
 *   mapcount: a mapping is invisible in struct page, and the scan cannot say "mapped" there.
 * - A folio at refcount 0 is free for page types whose idle is not 0; FS DAX (new) idles at 0 and
 *   is then simply idle, freed or not.
 */
import type { MemoryType, RefcountModel } from '../events/types.js';
import { STATE_CODE } from '../state/folio-store.js';
import { idleRefcount } from '../state/refcount-model.js';

export const PIN_BIAS = 1024;

export interface PageCounts {
  refcount: number;
  /** logical mapcount (raw + 1) */
  mapcount: number;
  pincount: number;
  order: number;
}

export function truthState(c: PageCounts, type: MemoryType, model: RefcountModel): number {
  const idle = idleRefcount(type, model);
  const mapRefs = model === 'new' ? Math.max(0, c.mapcount) : 0;
  const extra = c.refcount - idle - mapRefs;
  if (c.order > 0 ? c.pincount > 0 : extra >= PIN_BIAS) return STATE_CODE.pinned;
  if (c.mapcount > 0) return STATE_CODE.mapped;
  if (c.refcount === 0 && idle !== 0) return STATE_CODE.free;
  if (extra > 0) return STATE_CODE.referenced;
  return STATE_CODE.idle;
}
