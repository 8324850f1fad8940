/**
 * V2 refcount_underflow: more puts than gets.
 * - Any reading below zero.
 * - Old model: FS DAX refcounts are 1-based; `__put_devmap_managed_folio_refs` taking the count
 *   below 1 drops the idle reference itself, and reaching free_zone_device_* for FS DAX at all is a
 *   put past idle (the kernel WARNs: fsdax_pagemap_ops has no page_free).
 * - New model: free_zone_device_folio twice for a folio with no get or map in between, for the
 *   types whose (re)allocation daxmon sees (allocationObserved: FS DAX, device-dax). A driver
 *   re-allocates device-private, coherent and P2PDMA folios without a hooked event
 *   (docs/kernel-model.md §13): thousands of false alarms in hmm-tests before this.
 */
import { FLAG } from '../state/folio-store.js';
import { allocationObserved } from '../state/refcount-model.js';
import { folioFinding, typeAt } from './finding.js';
import type { Check } from './types.js';

export const refcountUnderflow: Check = {
  kind: 'refcount_underflow',
  invariant: 'V2',
  title: 'refcount underflow, or a put/free of an already free folio',
  events: [
    'folio_put',
    'zone_device_free',
    'folio_map',
    'folio_unmap',
    'gup',
    'folio_idle',
    'dax_entry_remove',
    'busy_page_found',
    'refcount_sample',
  ],
  requires: (model) => (model === 'old' ? [['devmap_put'], ['zone_device_free']] : [['zone_device_free']]),
  inspect(e, ctx) {
    if (!('pfn' in e) || !('refcount' in e)) return;
    const type = typeAt(ctx, e.pfn);
    if (type === null) return;
    if (e.refcount < 0) {
      ctx.report(
        folioFinding(
          ctx,
          e,
          'refcount_underflow',
          'error',
          `${type} folio read at refcount ${e.refcount} (${e.type})`,
          { refcount: e.refcount },
          { refcount: '>= 0' },
        ),
      );
      return;
    }
    if (e.type === 'folio_put' && type === 'fs_dax' && ctx.model === 'old' && e.refcount - e.refs < 1) {
      ctx.report(
        folioFinding(
          ctx,
          e,
          'refcount_underflow',
          'error',
          `put of ${e.refs} on an FS DAX page at refcount ${e.refcount} leaves ${e.refcount - e.refs}; FS DAX refcounts are 1-based before 6.15`,
          { refcount: e.refcount },
          { refcount: `>= ${e.refs + 1} before the put` },
          { refs: e.refs },
        ),
      );
      return;
    }
    if (e.type !== 'zone_device_free') return;
    if (ctx.model === 'old' && type === 'fs_dax') {
      ctx.report(
        folioFinding(
          ctx,
          e,
          'refcount_underflow',
          'error',
          'FS DAX page reached free_zone_device_folio: before 6.15 its refcount never drops below 1 (no ->page_free)',
          { refcount: e.refcount, mapcount: e.mapcount },
          { refcount: '>= 1 (never freed)' },
        ),
      );
      return;
    }
    if (!allocationObserved(type)) return;
    const row = ctx.state.folios.find(e.pfn);
    if (row >= 0 && (ctx.state.folios.flags[row]! & FLAG.FREED) !== 0 && !ctx.state.isUncertain(row)) {
      ctx.report(
        folioFinding(
          ctx,
          e,
          'refcount_underflow',
          'error',
          `${type} folio freed twice with no get or map in between`,
          { refcount: e.refcount, mapcount: e.mapcount },
          { refcount: 'a get before the next free' },
        ),
      );
    }
  },
};
