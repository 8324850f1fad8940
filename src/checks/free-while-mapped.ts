/**
 * V3 free_while_mapped: free_zone_device_folio runs when the refcount reaches 0, but a page-table
 * mapping still counted in _mapcount means a mapping's reference was put without its rmap being
 * removed: the page goes back (PRIVATE/P2PDMA: to the driver; FS DAX: woken as idle) while user
 * space can still reach it.
 */
import { folioFinding, typeAt } from './finding.js';
import type { Check } from './types.js';

export const freeWhileMapped: Check = {
  kind: 'free_while_mapped',
  invariant: 'V3',
  title: 'folio freed while still mapped',
  events: ['zone_device_free'],
  requires: () => [['zone_device_free']],
  inspect(e, ctx) {
    if (e.type !== 'zone_device_free' || e.mapcount <= 0) return;
    const type = typeAt(ctx, e.pfn) ?? 'unknown';
    ctx.report(
      folioFinding(
        ctx,
        e,
        'free_while_mapped',
        'error',
        `${type} folio freed with mapcount ${e.mapcount}`,
        { refcount: e.refcount, mapcount: e.mapcount },
        { mapcount: '0' },
      ),
    );
  },
};
