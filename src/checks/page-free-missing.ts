/**
 * V9 page_free_missing: for pgmaps with ->page_free (PRIVATE, COHERENT, P2PDMA) the refcount
 * reaching 0 must call it (free_zone_device_folio); the 6.12 code WARNs and returns when it is
 * missing. FS DAX has no page_free in any version (its signal is wake_up_var) and is not checked.
 */
import { folioFinding, typeAt } from './finding.js';
import type { Check } from './types.js';

export const pageFreeMissing: Check = {
  kind: 'page_free_missing',
  invariant: 'V9',
  title: '->page_free not called at refcount 0',
  events: ['zone_device_free'],
  requires: () => [['zone_device_free', 'page_free']],
  inspect(e, ctx) {
    if (e.type !== 'zone_device_free' || e.pageFreeCalled !== false) return;
    const p = ctx.state.pgmaps.lookup(e.pfn);
    if (!p || !p.hasPageFree) return;
    ctx.report(
      folioFinding(
        ctx,
        e,
        'page_free_missing',
        'error',
        `${typeAt(ctx, e.pfn)} folio reached refcount 0 without its pgmap's ->page_free being called`,
        { refcount: e.refcount, mapcount: e.mapcount },
        { refcount: '0 and ->page_free called' },
      ),
    );
  },
};
