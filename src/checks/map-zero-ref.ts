/**
 * V1 map_zero_ref: a ZONE_DEVICE page put into a page table while its refcount says nobody holds
 * it. New model: `insert_page_into_pte_locked`/`insert_pmd` take a reference per mapping
 * (folio_get), so after a successful vmf_insert_page_mkwrite/vmf_insert_folio_pmd the refcount is
 * at least idle + 1. Old model: devmap inserts take none, but an FS DAX page is never below its
 * idle refcount of 1; mapping one at 0 means a reference was dropped that was never taken
 * (try_grab_folio WARNs on a ≤0 refcount in both generations).
 */
import { faultSucceeded, idleRefcount } from '../state/refcount-model.js';
import { folioFinding, typeAt } from './finding.js';
import type { Check } from './types.js';

export const mapZeroRef: Check = {
  kind: 'map_zero_ref',
  invariant: 'V1',
  title: 'page mapped with a zero refcount',
  events: ['folio_map'],
  requires: () => [['folio_map_pte'], ['folio_map_pmd']],
  inspect(e, ctx) {
    if (e.type !== 'folio_map' || !faultSucceeded(e.ret)) return;
    const type = typeAt(ctx, e.pfn);
    if (type !== 'fs_dax' && type !== 'generic') return;
    const idle = idleRefcount(type, ctx.model);
    const min = ctx.model === 'new' ? idle + 1 : Math.max(1, idle);
    if (e.refcount >= min) return;
    ctx.report(
      folioFinding(
        ctx,
        e,
        'map_zero_ref',
        'error',
        `${type} folio mapped by ${e.via} with refcount ${e.refcount}; the ${ctx.model} model needs at least ${min} once mapped`,
        { refcount: e.refcount, mapcount: e.mapcount },
        { refcount: `>= ${min}` },
        { via: e.via },
      ),
    );
  },
};
