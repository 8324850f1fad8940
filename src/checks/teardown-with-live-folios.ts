/**
 * V5 teardown_with_live_folios: memunmap_pages() kills pgmap->ref and waits only for it
 * (mm/memremap.c, 6.1–6.18); FS DAX folio references are never pgmap references, so the struct
 * pages of a pgmap can be torn down while folios are still mapped, pinned or referenced by DAX
 * entries. Reported once per teardown with the live folios counted by kind. A pgmap whose ref is
 * not released long after teardown began gets a slow-release warning.
 */
import { FLAG } from '../state/folio-store.js';
import type { Check, CheckContext } from './types.js';

const SAMPLE_PFNS = 8;

function liveFolios(ctx: CheckContext, pgmapIdx: number) {
  const { state } = ctx;
  const f = state.folios;
  let mapped = 0;
  let pinned = 0;
  let referenced = 0;
  let entries = 0;
  let uncertain = 0;
  const sample: number[] = [];
  const idle = (row: number) => state.idleOf(row);
  for (let r = 0; r < f.size; r++) {
    if (f.pgmap[r] !== pgmapIdx) continue;
    const flags = f.flags[r]!;
    const isMapped = f.mapcount[r]! > 0 || (flags & FLAG.DEVMAP_MAPPED) !== 0;
    const isPinned = f.gupRefs[r]! > 0;
    const isReferenced = f.refcount[r]! > idle(r);
    const hasEntry = (flags & FLAG.ENTRY) !== 0;
    if (!(isMapped || isPinned || isReferenced || hasEntry)) continue;
    if (state.isUncertain(r)) {
      uncertain++;
      continue;
    }
    if (isMapped) mapped++;
    if (isPinned) pinned++;
    if (isReferenced) referenced++;
    if (hasEntry) entries++;
    if (sample.length < SAMPLE_PFNS && (isMapped || isPinned || isReferenced)) sample.push(f.pfn[r]!);
  }
  if (sample.length === 0) {
    for (let r = 0; r < f.size && sample.length < SAMPLE_PFNS; r++) {
      if (f.pgmap[r] === pgmapIdx && (f.flags[r]! & FLAG.ENTRY) !== 0 && !state.isUncertain(r)) {
        sample.push(f.pfn[r]!);
      }
    }
  }
  return { mapped, pinned, referenced, entries, uncertain, sample };
}

export const teardownWithLiveFolios: Check = {
  kind: 'teardown_with_live_folios',
  invariant: 'V5',
  title: 'pgmap torn down while its folios are live',
  events: ['pgmap_teardown_begin'],
  requires: () => [['pgmap_teardown']],
  inspect(e, ctx) {
    if (e.type !== 'pgmap_teardown_begin') return;
    const p = ctx.state.pgmaps.resolve(e.pgmap, e.range);
    if (!p || p.phase !== 'live') return;
    const { sample, ...live } = liveFolios(ctx, p.idx);
    const busy = live.mapped + live.pinned + live.referenced;
    if (busy === 0 && live.entries === 0) return;
    const what = [
      live.mapped && `${live.mapped} mapped`,
      live.pinned && `${live.pinned} pinned`,
      live.referenced && `${live.referenced} referenced above idle`,
      live.entries && `${live.entries} with a live DAX entry`,
    ]
      .filter(Boolean)
      .join(', ');
    ctx.report({
      kind: 'teardown_with_live_folios',
      severity: busy > 0 ? 'error' : 'warning',
      t: e.t,
      message: `pgmap ${p.id} (${p.type}${p.device ? `, ${p.device}` : ''}) torn down with live folios: ${what}`,
      pfn: sample[0] ?? null,
      pgmapIdx: p.idx,
      observed: {},
      expected: { refcount: 'idle for every folio', mapcount: '0 for every folio' },
      pid: e.pid,
      comm: e.comm,
      stack: e.stack,
      dedupeKey: `teardown_with_live_folios:${p.id}:${e.t}`,
      details: { ...live, samplePfns: sample },
    });
  },
  pending(ctx) {
    return ctx.state.pgmaps.all.some((p) => p.phase === 'tearing_down' && p.teardownBeginT !== null);
  },
  tick(now, ctx) {
    for (const p of ctx.state.pgmaps.all) {
      if (p.phase !== 'tearing_down' || p.teardownBeginT === null) continue;
      const waited = (now - p.teardownBeginT) / 1e9;
      if (waited < ctx.config.teardownReleaseWarnSeconds) continue;
      ctx.report({
        kind: 'teardown_with_live_folios',
        severity: 'warning',
        t: now,
        message: `pgmap ${p.id} ref not released ${waited.toFixed(1)} s after memunmap_pages began (slow release)`,
        pfn: null,
        pgmapIdx: p.idx,
        observed: {},
        expected: {},
        pid: 0,
        comm: '',
        dedupeKey: `teardown_slow_release:${p.id}:${p.teardownBeginT}`,
        details: { waitedSeconds: waited },
      });
    }
  },
};
