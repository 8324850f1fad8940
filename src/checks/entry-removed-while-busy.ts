/**
 * V4 entry_removed_while_busy: a DAX entry removed while someone still holds its page.
 * Old model: dax_disassociate_entry(trunc) WARNs when page_ref_count > 1 (fs/dax.c, 6.12).
 * New model: the entry must only go once the folio is idle at 0 (dax_break_layout waits for it;
 * order-0 removal while busy has no WARN, so daxmon is the only witness).
 * Not violations: new idle (0) with `mapping` still set, old idle (1) with the entry present.
 */
import { idleRefcount } from '../state/refcount-model.js';
import { folioFinding, typeAt } from './finding.js';
import type { Check } from './types.js';

export const entryRemovedWhileBusy: Check = {
  kind: 'entry_removed_while_busy',
  invariant: 'V4',
  title: 'DAX entry removed while its page is busy',
  events: ['dax_entry_remove'],
  requires: () => [['dax_entry_remove']],
  inspect(e, ctx) {
    if (e.type !== 'dax_entry_remove') return;
    const type = typeAt(ctx, e.pfn);
    if (type !== 'fs_dax') return;
    const idle = idleRefcount(type, ctx.model);
    // Old kernels only WARN for truncation; invalidation may legitimately drop the entry of a
    // pinned page there, so a removal whose `trunc` the hook could not see is not judged either.
    if (ctx.model === 'old' && e.trunc !== true) return;
    if (e.refcount <= idle) return;
    ctx.report(
      folioFinding(
        ctx,
        e,
        'entry_removed_while_busy',
        'error',
        `DAX entry of inode ${e.ino} index ${e.index} removed (${e.trunc === null ? 'truncate or invalidate' : e.trunc ? 'truncate' : 'invalidate'}) while its page holds refcount ${e.refcount}, idle is ${idle}`,
        { refcount: e.refcount, mapcount: e.mapcount },
        { refcount: `${idle}` },
        { ino: e.ino, index: e.index, trunc: e.trunc },
      ),
    );
  },
};
