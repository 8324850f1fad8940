/**
 * Confirm before you accuse (issue 11, docs/violations.md): before idle_refcount_mismatch is
 * raised, the struct-page scanner re-reads the folio. The readings go into the stream as
 * `refcount_sample` events (daxmon's counts become the kernel's), then a `folio_confirmation`
 * says whether the kernel still holds the folio unmapped, unpinned and off idle. Both are
 * recorded, so a replay decides exactly as the live run did. At most `maxPending` reads wait at
 * once: past that a candidate is answered `unread` at once, and nothing inferred is raised.
 */
import type { FolioCandidate } from '../checks/types.js';
import { idleMismatchHolds } from '../checks/idle-refcount-mismatch.js';
import type { DaxEvent, FolioConfirmation } from '../events/types.js';
import type { FolioConfirmer } from '../pipeline.js';
import type { FolioReading, ScanService } from '../scan/service.js';
import type { DaxState } from '../state/state.js';

/** A read not answered by then is answered `unread` (it may wait behind a long paced scan). */
export const FOLIO_READ_TIMEOUT_MS = 60_000;

export interface FolioConfirmerOptions {
  scan: Pick<ScanService, 'readFolio'>;
  state: DaxState;
  ingest: (e: DaxEvent) => void;
  /** Stream clock (ns) for the answer. */
  nowNs: () => number;
  /** Reads waiting at once (default 64). */
  maxPending?: number;
  /** Default FOLIO_READ_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Told of a failure to ingest an answer (the daemon logs it); never thrown into a promise. */
  onError?: (err: unknown) => void;
}

export function scanFolioConfirmer(o: FolioConfirmerOptions): FolioConfirmer {
  const max = o.maxPending ?? 64;
  const timeoutMs = o.timeoutMs ?? FOLIO_READ_TIMEOUT_MS;
  let pending = 0;
  const answer = (c: FolioCandidate, outcome: FolioConfirmation['outcome'], detail: string): void => {
    try {
      o.ingest({
        type: 'folio_confirmation',
        t: o.nowNs(),
        pid: 0,
        comm: 'daxmon-scan',
        pfn: c.pfn,
        check: c.kind,
        outcome,
        detail,
      });
    } catch (err) {
      o.onError?.(err);
    }
  };
  const judge = (c: FolioCandidate, r: FolioReading): void => {
    if (!r.read) return answer(c, 'unread', r.why);
    // The pfn is now a tail of another folio: daxmon's row is stale, nothing to accuse.
    if (r.tail)
      return answer(c, 'resynced', `struct page read: pfn ${c.pfn} is a tail page of a compound folio`);
    const s = r.sample;
    const detail = `struct page read: refcount ${s.refcount}, mapcount ${s.mapcount}, pincount ${s.pincount}, order ${s.order}`;
    // Confirmed: the kernel holds exactly what daxmon accused, and no gap came while the read
    // waited. Anything else is a resync, even a folio still off idle at another value.
    const row = o.state.folios.find(c.pfn);
    const same = s.refcount === c.refcount && o.state.gapGen === c.gapGen;
    const holds = row >= 0 && idleMismatchHolds(o.state, row);
    answer(c, holds && same ? 'confirmed' : 'resynced', detail);
  };
  return (c) => {
    if (pending >= max) {
      // Answered on the next turn, like a read, never inside the ingest that proposed it.
      queueMicrotask(() => answer(c, 'unread', `${max} confirmations already waiting for the scanner`));
      return;
    }
    pending++;
    let done = false;
    const finish = (f: () => void): void => {
      if (done) return;
      done = true;
      pending--;
      clearTimeout(timer);
      f();
    };
    const timer = setTimeout(
      () => finish(() => answer(c, 'unread', `the scanner did not answer within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
    timer.unref?.();
    o.scan.readFolio(c.pfn, c.nrPages).then(
      (r) => finish(() => judge(c, r)),
      (err: unknown) => finish(() => answer(c, 'unread', (err as Error)?.message ?? String(err))),
    );
  };
}
