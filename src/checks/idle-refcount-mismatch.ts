/**
 * V6 idle_refcount_mismatch: a folio nobody maps or pins whose refcount stays off its idle value.
 * New model: idle is 0 (dax_page_is_idle: page_ref_count == 0); an unmapped, unpinned FS DAX folio
 * stuck at 1 or more holds a leaked reference and dax_break_layout would wait on it forever.
 * Old model: idle is 1 (the test is == 1 in 6.12); FS DAX at 0 is an off-by-one the other way.
 * P2PDMA: idle 1 before 6.15, 0 after; device-dax: 1 in both.
 *
 * Suspects are collected as events arrive and reported only if the condition still holds after
 * `idleMismatchSeconds`: a put the probes cannot see (inline folio_put) usually follows within
 * microseconds, and pipes or direct I/O may hold pages for a while legitimately. Folios a
 * busy-page wait is waiting on are V8's business, not this check's.
 *
 * Confirm before you accuse (docs/violations.md): the refcount daxmon holds may be its own
 * arithmetic (FLAG.INFERRED: gets and puts added up since the last reading), and one unseen event
 * makes that wrong (issue 11: "-511" on an order-9 folio whose pfns another file had reused).
 * With a folio confirmer (the live daemon with the struct-page scanner, and replays of its
 * recordings) a suspect whose time is up is proposed, not raised: the scanner re-reads the
 * folio's pages, the readings replace daxmon's counts, and the `folio_confirmation` says whether
 * the kernel holds exactly the value daxmon accused, with no gap while the read waited (raised,
 * with the kernel's values) or not (nothing raised; a folio still off idle at another value is a
 * new suspect from the reading). When the pages could not be read, a value daxmon inferred is
 * never raised; one the kernel reported at an event is, marked unconfirmed.
 */
import type { DaxEvent, FolioConfirmation } from '../events/types.js';
import { FLAG, NO_PGMAP } from '../state/folio-store.js';
import { PIN_BIAS } from '../scan/truth.js';
import type { DaxState } from '../state/state.js';
import type { Check, CheckContext } from './types.js';

interface Suspect {
  since: number;
  reported: boolean;
  /** Proposed to the confirmer at this stream time, answer pending (null: not proposed). */
  proposedAt: number | null;
}

/**
 * An answer that never came (the check was inactive when it arrived, a confirmer gone): after
 * this long past the proposal the suspect is proposed again. The confirmer itself answers
 * `unread` after FOLIO_READ_TIMEOUT_MS (src/daemon/folio-confirmer.ts).
 */
const ANSWER_LOST_NS = 120e9;

/**
 * Whether the folio at `row` is, as `state` holds it, unmapped, unpinned and off its idle
 * refcount, and certain (no gap since it was last known). The folio confirmer asks the same of
 * the kernel's readings.
 */
export function idleMismatchHolds(state: DaxState, row: number): boolean {
  const f = state.folios;
  if (f.pgmap[row] === NO_PGMAP || state.isUncertain(row)) return false;
  const type = state.typeOf(row);
  if (type !== 'fs_dax' && type !== 'pci_p2pdma' && type !== 'generic') return false;
  const flags = f.flags[row]!;
  if (f.mapcount[row]! > 0 || (flags & FLAG.DEVMAP_MAPPED) !== 0 || f.gupRefs[row]! > 0) return false;
  // A FOLL_PIN daxmon did not see (before start-up, or in a gap) still shows in a reading as the
  // pin bias on an order-0 folio (GUP_PIN_COUNTING_BIAS, folio_maybe_dma_pinned()): a pin, not a leak.
  if (f.order[row] === 0 && f.refcount[row]! - state.idleOf(row) >= PIN_BIAS) return false;
  return f.refcount[row]! !== state.idleOf(row);
}

export function createIdleRefcountMismatch(): Check {
  const suspects = new Map<number, Suspect>();
  return {
    kind: 'idle_refcount_mismatch',
    invariant: 'V6',
    title: 'unmapped, unpinned folio off its idle refcount',
    events: [
      'folio_map',
      'folio_unmap',
      'gup',
      'folio_put',
      'folio_idle',
      'zone_device_free',
      'dax_entry_insert',
      'dax_entry_remove',
      'busy_page_found',
      'refcount_sample',
      'folio_confirmation',
    ],
    requires: (model) =>
      model === 'new' ? [['folio_unmap', 'zone_device_free']] : [['devmap_put'], ['folio_idle']],
    after(e: DaxEvent, ctx) {
      if (!('pfn' in e)) return;
      if (e.type === 'folio_confirmation') {
        answered(e.pfn, e.t, e.outcome, e.detail, ctx);
        return;
      }
      const row = ctx.state.folios.find(e.pfn);
      if (row < 0 || !idleMismatchHolds(ctx.state, row)) {
        suspects.delete(e.pfn);
        return;
      }
      const s = suspects.get(e.pfn);
      // A new reading with the same wrong value keeps the original start: the clock runs from
      // when the folio first went quiet off idle.
      if (!s) suspects.set(e.pfn, { since: e.t, reported: false, proposedAt: null });
    },
    pending() {
      for (const s of suspects.values()) if (!s.reported) return true;
      return false;
    },
    tick(now, ctx) {
      const limitNs = ctx.config.idleMismatchSeconds * 1e9;
      for (const [pfn, s] of suspects) {
        if (s.proposedAt !== null && now - s.proposedAt >= ANSWER_LOST_NS) s.proposedAt = null;
        if (s.reported || s.proposedAt !== null || now - s.since < limitNs) continue;
        const row = ctx.state.folios.find(pfn);
        if (row < 0 || !idleMismatchHolds(ctx.state, row) || ctx.state.waits.waitingOn(pfn)) {
          suspects.delete(pfn);
          continue;
        }
        if (ctx.confirms('idle_refcount_mismatch')) {
          s.proposedAt = now;
          ctx.propose({
            kind: 'idle_refcount_mismatch',
            t: now,
            pfn,
            nrPages: 2 ** ctx.state.folios.order[row]!,
            refcount: ctx.state.folios.refcount[row]!,
            gapGen: ctx.state.gapGen,
          });
          continue;
        }
        raise(pfn, s, now, ctx, null);
      }
    },
  };

  /** The confirmer's answer for `pfn` at `t` (its readings were applied just before). */
  function answered(
    pfn: number,
    t: number,
    outcome: FolioConfirmation['outcome'],
    detail: string,
    ctx: CheckContext,
  ): void {
    const s = suspects.get(pfn);
    if (!s || s.proposedAt === null || s.reported) return;
    s.proposedAt = null;
    const row = ctx.state.folios.find(pfn);
    const holds = row >= 0 && idleMismatchHolds(ctx.state, row) && !ctx.state.waits.waitingOn(pfn);
    if (!holds) {
      // The kernel holds it idle, mapped or pinned (its readings replaced daxmon's counts).
      suspects.delete(pfn);
      return;
    }
    if (outcome === 'confirmed') return raise(pfn, s, t, ctx, { confirmed: true, kernel: detail });
    if (outcome === 'unread') {
      // Nothing read: daxmon's own arithmetic is no evidence; a value a probe read is, unconfirmed.
      if ((ctx.state.folios.flags[row]! & FLAG.INFERRED) === 0)
        return raise(pfn, s, t, ctx, { confirmed: false, kernel: detail });
      suspects.delete(pfn);
      return;
    }
    // resynced but still off idle: the kernel holds another value than daxmon did (or a gap came
    // while the read waited). One reading is one observation, not a leak: a new suspect from now,
    // judged again after idleMismatchSeconds.
    s.since = t;
  }

  function raise(
    pfn: number,
    s: Suspect,
    now: number,
    ctx: CheckContext,
    confirmation: { confirmed: boolean; kernel: string } | null,
  ): void {
    const row = ctx.state.folios.find(pfn);
    s.reported = true;
    const f = ctx.state.folios;
    const idle = ctx.state.idleOf(row);
    const refcount = f.refcount[row]!;
    const type = ctx.state.typeOf(row);
    const seq = f.lastSeq[row]!;
    // Who touched it last: not the scanner whose reading confirmed it.
    const last = ctx.state.history.recent(pfn, seq).find((h) => h.type !== 'refcount_sample');
    ctx.report({
      kind: 'idle_refcount_mismatch',
      severity: 'error',
      t: now,
      message:
        refcount > idle
          ? `${type} folio unmapped and unpinned but at refcount ${refcount} for ${((now - s.since) / 1e9).toFixed(1)} s (idle is ${idle}): a leaked reference`
          : `${type} folio at refcount ${refcount}, below its idle ${idle}, for ${((now - s.since) / 1e9).toFixed(1)} s`,
      pfn,
      pgmapIdx: f.pgmap[row]!,
      order: f.order[row]!,
      observed: { refcount, mapcount: f.mapcount[row]! },
      expected: { refcount: `${idle}` },
      pid: last?.pid ?? 0,
      comm: last?.comm ?? '',
      dedupeKey: `idle_refcount_mismatch:${pfn}:${s.since}`,
      details: { inferred: (f.flags[row]! & FLAG.INFERRED) !== 0, sinceT: s.since, ...confirmation },
    });
  }
}
