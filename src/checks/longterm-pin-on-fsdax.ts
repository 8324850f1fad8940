/**
 * V11 longterm_pin_on_fsdax: FOLL_LONGTERM pins of FS DAX pages must be refused
 * (check_vma_flags: vma_is_fsdax → -EOPNOTSUPP; GUP-fast: folio_is_longterm_pinnable is false for
 * FS DAX from 6.15, pte_devmap bails before). A successful one would hold the page busy
 * indefinitely and block truncate. Refusals are counted, not reported.
 */
import { FOLL } from '../events/types.js';
import { folioFinding, typeAt } from './finding.js';
import type { Check } from './types.js';

export const longtermPinOnFsdax: Check = {
  kind: 'longterm_pin_on_fsdax',
  invariant: 'V11',
  title: 'FOLL_LONGTERM pin succeeded on FS DAX',
  events: ['gup'],
  requires: () => [['gup_grab']],
  inspect(e, ctx) {
    if (e.type !== 'gup' || (e.op !== 'pin' && e.op !== 'get')) return;
    if ((e.flags & FOLL.LONGTERM) === 0 || e.result < 0) return;
    if (typeAt(ctx, e.pfn) !== 'fs_dax') return;
    ctx.report(
      folioFinding(
        ctx,
        e,
        'longterm_pin_on_fsdax',
        'error',
        `FOLL_LONGTERM ${e.op} of ${e.refs} ref(s) succeeded on an FS DAX page (flags 0x${e.flags.toString(16)})`,
        { refcount: e.refcount },
        { refcount: 'pin refused with -EOPNOTSUPP' },
        { flags: e.flags, refs: e.refs },
      ),
    );
  },
};
