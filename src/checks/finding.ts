/** Helpers shared by the checks for describing a folio event as a finding. */
import type { FolioEvent } from '../events/types.js';
import { NO_PGMAP } from '../state/folio-store.js';
import type { CheckContext, Finding, Severity, ViolationKind } from './types.js';

export function folioFinding(
  ctx: CheckContext,
  e: FolioEvent,
  kind: ViolationKind,
  severity: Severity,
  message: string,
  observed: Finding['observed'],
  expected: Finding['expected'],
  details?: Record<string, unknown>,
): Finding {
  const row = ctx.state.folios.find(e.pfn);
  const pgmapIdx =
    row >= 0 ? ctx.state.folios.pgmap[row]! : (ctx.state.pgmaps.lookup(e.pfn)?.idx ?? NO_PGMAP);
  return {
    kind,
    severity,
    t: e.t,
    message,
    pfn: e.pfn,
    ...(pgmapIdx !== NO_PGMAP ? { pgmapIdx } : {}),
    order: 'order' in e ? e.order : row >= 0 ? ctx.state.folios.order[row]! : 0,
    observed,
    expected,
    pid: e.pid,
    comm: e.comm,
    stack: e.stack,
    dedupeKey: `${kind}:${e.pfn}`,
    ...(details ? { details } : {}),
  };
}

/** The memory type of the pgmap holding pfn (from the tracked row, else by range), or null. */
export function typeAt(ctx: CheckContext, pfn: number) {
  const row = ctx.state.folios.find(pfn);
  if (row >= 0) return ctx.state.typeOf(row);
  return ctx.state.pgmaps.lookup(pfn)?.type ?? null;
}
