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
import type { ScanService } from '../scan/service.js';
import type { DaxState } from '../state/state.js';

export interface FolioConfirmerOptions {
  scan: Pick<ScanService, 'readFolio'>;
  state: DaxState;
  ingest: (e: DaxEvent) => void;
  /** Stream clock (ns) for the answer. */
  nowNs: () => number;
  /** Reads waiting at once (default 64). */
  maxPending?: number;
}

export function scanFolioConfirmer(o: FolioConfirmerOptions): FolioConfirmer {
  const max = o.maxPending ?? 64;
  let pending = 0;
  const answer = (c: FolioCandidate, outcome: FolioConfirmation['outcome'], detail: string): void =>
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
  return (c) => {
    if (pending >= max) {
      // Answered on the next turn, like a read, never inside the ingest that proposed it.
      queueMicrotask(() => answer(c, 'unread', `${max} confirmations already waiting for the scanner`));
      return;
    }
    pending++;
    void o.scan.readFolio(c.pfn, c.nrPages).then((r) => {
      pending--;
      if (!r.read) return answer(c, 'unread', r.why);
      const s = r.sample;
      const row = o.state.folios.find(c.pfn);
      const holds = row >= 0 && idleMismatchHolds(o.state, row);
      answer(
        c,
        holds ? 'confirmed' : 'resynced',
        `struct page read: refcount ${s.refcount}, mapcount ${s.mapcount}, pincount ${s.pincount}, order ${s.order}`,
      );
    });
  };
}
