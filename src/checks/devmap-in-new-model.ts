/**
 * V10 devmap_in_new_model: from the refcount rework on, FS DAX and device-dax pages are mapped
 * as normal refcounted pages (vmf_insert_page_mkwrite / vmf_insert_folio_pmd); a pfn insert
 * (vmf_insert_mixed*, vmf_insert_pfn_pmd/pud) of such a page takes no reference and leaves a
 * devmap/special entry the new code no longer expects. The mirror on old kernels: an FS DAX page
 * inserted through the page-based functions would take references the old 1-based put path
 * (__put_devmap_managed_folio_refs) never expects.
 */
import { faultSucceeded } from '../state/refcount-model.js';
import { folioFinding, typeAt } from './finding.js';
import type { Check } from './types.js';

const PFN_INSERTS = new Set([
  'vmf_insert_mixed',
  'vmf_insert_mixed_mkwrite',
  'vmf_insert_pfn_pmd',
  'vmf_insert_pfn_pud',
]);

export const devmapInNewModel: Check = {
  kind: 'devmap_in_new_model',
  invariant: 'V10',
  title: 'pfn (devmap) insert of a ZONE_DEVICE page under the new model, or the mirror on old kernels',
  events: ['folio_map'],
  requires: () => [['folio_map_pte'], ['folio_map_pmd']],
  inspect(e, ctx) {
    if (e.type !== 'folio_map' || !faultSucceeded(e.ret)) return;
    const type = typeAt(ctx, e.pfn);
    if (type === null) return;
    const pfnInsert = PFN_INSERTS.has(e.via);
    if (ctx.model === 'new' && pfnInsert && (type === 'fs_dax' || type === 'generic')) {
      ctx.report(
        folioFinding(
          ctx,
          e,
          'devmap_in_new_model',
          'error',
          `${type} page mapped by ${e.via} (a pfn insert, no reference) on a new-model kernel`,
          { refcount: e.refcount, mapcount: e.mapcount },
          { refcount: 'mapped through vmf_insert_page_mkwrite/vmf_insert_folio_pmd' },
          { via: e.via },
        ),
      );
    } else if (ctx.model === 'old' && !pfnInsert && type === 'fs_dax') {
      ctx.report(
        folioFinding(
          ctx,
          e,
          'devmap_in_new_model',
          'error',
          `FS DAX page mapped by ${e.via} (a page insert) on an old-model kernel, whose FS DAX pages are devmap-mapped`,
          { refcount: e.refcount, mapcount: e.mapcount },
          { refcount: 'mapped through vmf_insert_mixed*/vmf_insert_pfn_pmd' },
          { via: e.via },
        ),
      );
    }
  },
};
