/**
 * V7 compound_pgmap_mismatch: in a compound folio (new FS DAX PMD folios, device-dax with
 * vmemmap_shift) every tail's word at offset 8 is head+1 and its refcount is 0; the head (and,
 * after dax_folio_put splits it, every page) points at the pgmap registered for its pfn.
 * free_zone_device_folio WARNs on a NULL pgmap. Seen by the struct-page scanner.
 */
import { folioFinding } from './finding.js';
import type { Check } from './types.js';

export const compoundPgmapMismatch: Check = {
  kind: 'compound_pgmap_mismatch',
  invariant: 'V7',
  title: 'compound tail or pgmap word inconsistent',
  events: ['refcount_sample'],
  requires: () => [['scan']],
  inspect(e, ctx) {
    if (e.type !== 'refcount_sample') return;
    const registered = ctx.state.pgmaps.lookup(e.pfn);
    if (e.tail && e.refcount !== 0) {
      ctx.report(
        folioFinding(
          ctx,
          e,
          'compound_pgmap_mismatch',
          'error',
          `compound tail page at refcount ${e.refcount}`,
          { refcount: e.refcount },
          { refcount: '0 (tail)' },
        ),
      );
      return;
    }
    if (e.headPfn !== null && registered) {
      const head = ctx.state.pgmaps.lookup(e.headPfn);
      if (head !== registered) {
        ctx.report(
          folioFinding(
            ctx,
            e,
            'compound_pgmap_mismatch',
            'error',
            `tail page's head pfn ${e.headPfn} lies outside the tail's pgmap ${registered.id}`,
            {},
            {},
            { headPfn: e.headPfn },
          ),
        );
        return;
      }
    }
    if (e.pgmapOk === false) {
      ctx.report(
        folioFinding(
          ctx,
          e,
          'compound_pgmap_mismatch',
          'error',
          `page's pgmap word does not point at the pgmap registered for pfn ${e.pfn}${registered ? ` (${registered.id})` : ''}`,
          {},
          {},
        ),
      );
    }
  },
};
