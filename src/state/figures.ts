/**
 * The figures daxmon shows in more than one place (metrics, /api, the replay summary), each
 * defined once here so two outputs cannot disagree about the same state. Pure: they read the
 * state and what the caller passes in, and allocate only the result.
 */
import { EVENT_TYPES, type EventType } from '../events/types.js';
import { FOLIO_STATES, type FolioState } from './folio-store.js';
import type { Pgmap } from './pgmaps.js';
import type { Bucket, DaxState } from './state.js';

/** What the struct-page scanner counted at its last complete scan of each pgmap. */
export interface ScannedFolios {
  scannedFolios(pgmapId: string): number | null;
}

export interface FolioCounts {
  /**
   * Folios by state. Before any scan: the tracked folios only. After a scan of the pgmap: every
   * folio the scan counted, the untracked ones as idle (reconciliation tracks every folio that is
   * not idle, scan/reconcile.ts), so the states add up to the pgmap's folios.
   */
  byState: Record<FolioState, number>;
  /** Tracked folios not re-read since the last gap (lost events, backend restart). */
  uncertain: number;
  /** Folios daxmon tracks (one row each). */
  tracked: number;
  /** Folios the last scan counted that daxmon does not track: in `byState.idle`. 0 before a scan. */
  untrackedIdle: number;
  /** Folios (heads and order-0 pages) the last complete scan counted; null: never scanned. */
  scannedFolios: number | null;
}

/**
 * Folio counts of one pgmap (or of the folios outside every pgmap). `scannedFolios` is the
 * scanner's count of the pgmap's folios at its last complete scan, null when it never scanned it.
 */
export function folioCounts(b: Bucket, scannedFolios: number | null): FolioCounts {
  const untrackedIdle = scannedFolios === null ? 0 : Math.max(0, scannedFolios - b.tracked);
  const byState = {} as Record<FolioState, number>;
  FOLIO_STATES.forEach((s, i) => (byState[s] = b.stateCounts[i]! + (s === 'idle' ? untrackedIdle : 0)));
  return { byState, uncertain: b.uncertain, tracked: b.tracked, untrackedIdle, scannedFolios };
}

/** Folio counts of a pgmap as every output shows them; a pgmap torn down has none. */
export function pgmapFolioCounts(p: Pgmap, scan: ScannedFolios | undefined): FolioCounts {
  return folioCounts(p, p.phase === 'gone' ? null : (scan?.scannedFolios(p.id) ?? null));
}

/**
 * The `daxmon_pgmap_folios` series: one per pgmap not torn down (by public id), and `none` for
 * tracked folios in no known pgmap. The API's `folios` of each pgmap are the same counts.
 */
export function pgmapFolioSeries(
  state: DaxState,
  scan: ScannedFolios | undefined,
): { pgmap: string; counts: FolioCounts }[] {
  const out = state.pgmaps.all
    .filter((p) => p.phase !== 'gone')
    .map((p) => ({ pgmap: p.id, counts: pgmapFolioCounts(p, scan) }));
  if (state.unassigned.tracked > 0) out.push({ pgmap: 'none', counts: folioCounts(state.unassigned, null) });
  return out;
}

/** The sum of several buckets' counts (a summary over every pgmap). */
export function sumFolioCounts(all: readonly FolioCounts[]): FolioCounts {
  const byState = Object.fromEntries(FOLIO_STATES.map((s) => [s, 0])) as Record<FolioState, number>;
  let uncertain = 0;
  let tracked = 0;
  let untrackedIdle = 0;
  let scanned: number | null = null;
  for (const c of all) {
    for (const s of FOLIO_STATES) byState[s] += c.byState[s];
    uncertain += c.uncertain;
    tracked += c.tracked;
    untrackedIdle += c.untrackedIdle;
    if (c.scannedFolios !== null) scanned = (scanned ?? 0) + c.scannedFolios;
  }
  return { byState, uncertain, tracked, untrackedIdle, scannedFolios: scanned };
}

/**
 * Events the pipeline ingested, by type (types with none left out): every event of the stream,
 * whoever produced it (the probes, the scanner's samples, daxmon's own start-up discovery), so a
 * recording replays to the same counts. A count of events, not of things: one pgmap is announced
 * by each source that learns it (docs/events.md, `pgmap_registered`).
 */
export function eventCountsByType(state: DaxState): Partial<Record<EventType, number>> {
  const out: Partial<Record<EventType, number>> = {};
  EVENT_TYPES.forEach((t, i) => {
    const n = state.eventsByType[i]!;
    if (n > 0) out[t] = n;
  });
  return out;
}
