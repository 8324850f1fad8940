/**
 * Reconciliation of daxmon's tracked folios with a scan of the kernel's struct pages. Pure: reads
 * the state, returns what to change (as `refcount_sample` events the pipeline applies, so checks
 * see the truth like any other reading) and what disagreed.
 *
 * Why samples and not direct writes: a reading is exactly what the state machine already knows how
 * to apply (counts replaced, inference cleared, the row's gap generation renewed, so a folio left
 * uncertain by a gap becomes certain again), and the checks (V6 idle_refcount_mismatch, V7) get
 * it through their usual event path.
 *
 * Only folios that are tracked or not idle produce a sample: untracked folios are idle by
 * definition, and tracking every idle page of a pgmap would cost memory for nothing.
 */
import type { RefcountModel, RefcountSample } from '../events/types.js';
import { FLAG, STATE_CODE } from '../state/folio-store.js';
import type { Pgmap } from '../state/pgmaps.js';
import type { DaxState } from '../state/state.js';
import { SCAN_FAULT, SCAN_HEAD, SCAN_TAIL, type PageBatch } from './frames.js';
import { PIN_BIAS, truthState } from './truth.js';
import { idleRefcount } from '../state/refcount-model.js';

export const DRIFT_FIELDS = ['refcount', 'mapcount', 'state'] as const;
export type DriftField = (typeof DRIFT_FIELDS)[number];

export interface ReconcileResult {
  samples: RefcountSample[];
  drift: Record<DriftField, number>;
  /** Folios (heads and order-0 pages) of the batch per true state code. */
  truthCounts: Int32Array;
  folios: number;
  /** Tracked rows that were uncertain (since a gap) and are re-read now. */
  recertified: number;
  faults: number;
}

export function reconcileBatch(
  state: DaxState,
  pgmap: Pgmap,
  batch: PageBatch,
  t: number,
  model: RefcountModel,
): ReconcileResult {
  const r: ReconcileResult = {
    samples: [],
    drift: { refcount: 0, mapcount: 0, state: 0 },
    truthCounts: new Int32Array(5),
    folios: 0,
    recertified: 0,
    faults: 0,
  };
  const f = state.folios;
  for (let i = 0; i < batch.nr; i++) {
    const status = batch.status(i);
    if (status & SCAN_FAULT) {
      r.faults++;
      continue;
    }
    const pfn = batch.startPfn + i;
    if (status & SCAN_TAIL) {
      // A tail's counts are its head's: its own _refcount must stay 0 (V7). Only a broken one
      // becomes a sample, for the check; the head is the nearest head below it in the batch.
      const refcount = batch.refcount(i);
      if (refcount !== 0) r.samples.push(tailSample(batch, i, pfn, refcount, t));
      continue;
    }
    const order = status & SCAN_HEAD ? batch.order(i) : 0;
    const counts = {
      refcount: batch.refcount(i),
      mapcount: batch.mapcount(i),
      pincount: status & SCAN_HEAD ? batch.pincount(i) : 0,
      order,
    };
    const truth = truthState(counts, pgmap.type, model);
    r.folios++;
    r.truthCounts[truth]!++;
    const row = f.find(pfn);
    if (row >= 0) {
      if (state.isUncertain(row)) r.recertified++;
      else {
        if (f.refcount[row] !== counts.refcount) r.drift.refcount++;
        if (model === 'new' && f.mapcount[row] !== counts.mapcount) r.drift.mapcount++;
        if (
          !sameState(f.state[row]!, f.flags[row]!, truth, model) &&
          !getRefsExplain(
            f.state[row]!,
            f.gupRefs[row]!,
            truth,
            counts,
            idleRefcount(pgmap.type, model),
            model,
          )
        )
          r.drift.state++;
      }
    } else if (truth === STATE_CODE.idle) {
      continue;
    }
    r.samples.push({
      type: 'refcount_sample',
      t,
      pid: 0,
      comm: 'daxmon-scan',
      pfn,
      refcount: counts.refcount,
      mapcount: counts.mapcount,
      flags: '0x0',
      tail: false,
      headPfn: null,
      pgmapOk: null,
      order,
      pincount: counts.pincount,
    });
  }
  return r;
}

/**
 * daxmon calls a folio with GUP references it saw "pinned" (FOLL_GET included: vmsplice, O_DIRECT);
 * struct page cannot tell a FOLL_GET reference from any other, so the truth says mapped or
 * referenced. That is agreement as long as the references beyond idle and the mappings cover the
 * GUP references daxmon counted.
 */
function getRefsExplain(
  tracked: number,
  gupRefs: number,
  truth: number,
  c: { refcount: number; mapcount: number },
  idle: number,
  model: RefcountModel,
): boolean {
  if (tracked !== STATE_CODE.pinned || gupRefs >= PIN_BIAS) return false;
  if (truth !== STATE_CODE.mapped && truth !== STATE_CODE.referenced) return false;
  return c.refcount - idle - (model === 'new' ? Math.max(0, c.mapcount) : 0) >= gupRefs;
}

/**
 * Whether the tracked state agrees with the truth. Two differences are not drift: the old model's
 * devmap mappings are invisible in struct page, and "free" and "idle" are the same page when idle
 * is 0.
 */
function sameState(tracked: number, flags: number, truth: number, model: RefcountModel): boolean {
  if (tracked === truth) return true;
  if (model === 'old' && tracked === STATE_CODE.mapped_unknown && (flags & FLAG.DEVMAP_MAPPED) !== 0)
    return truth === STATE_CODE.idle || truth === STATE_CODE.referenced;
  if (tracked === STATE_CODE.free && truth === STATE_CODE.idle) return true;
  return false;
}

function tailSample(batch: PageBatch, i: number, pfn: number, refcount: number, t: number): RefcountSample {
  let head = i - 1;
  while (head >= 0 && (batch.status(head) & SCAN_HEAD) === 0) head--;
  return {
    type: 'refcount_sample',
    t,
    pid: 0,
    comm: 'daxmon-scan',
    pfn,
    refcount,
    mapcount: batch.mapcount(i),
    flags: '0x0',
    tail: true,
    headPfn: head >= 0 ? batch.startPfn + head : null,
    pgmapOk: null,
    order: 0,
    pincount: 0,
  };
}
