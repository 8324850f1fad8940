/**
 * daxmon's HTTP side (fastify): /metrics, health and readiness, and a read-only JSON API over the
 * state and the violations. Every handler is bounded (pagination limits, no per-folio walks), so a
 * scrape or API call costs the event loop little and a slow client only fills its own socket
 * buffer; intake never waits for HTTP. Raw kernel addresses (pgmap keys) are shown only to a
 * client presenting the API token; everything else shows pfns and public ids.
 */
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { CheckEngine } from '../checks/engine.js';
import { VIOLATION_KINDS } from '../checks/types.js';
import type { DaxmonMetrics } from '../metrics/registry.js';
import { eventCountsByType, pgmapFolioCounts, pgmapFolioSeries, sumFolioCounts } from '../state/figures.js';
import { formatDev } from '../state/inodes.js';
import type { Pgmap } from '../state/pgmaps.js';
import { parsePagesQuery } from '../scan/pages-query.js';
import type { ScanService } from '../scan/service.js';
import type { DaxState } from '../state/state.js';
import type { ViolationStore } from '../violations/store.js';
import {
  apiError,
  clientErrorHandler,
  notFoundHandler,
  requestErrorHandler,
  sendApiError,
} from './api-errors.js';
import { isoInstant } from './query-time.js';
import { hasApiToken, redactResponses } from './redact.js';
import { registerViewAssets } from './view/assets.js';
import { MapService, parseMapQuery } from './view/map-service.js';

export interface Readiness {
  ready: boolean;
  reason: string;
}

export interface ServerDeps {
  state: DaxState;
  engine: CheckEngine;
  metrics: DaxmonMetrics;
  violations: ViolationStore;
  kernel: { release: string; model: string; evidence: string[] };
  readiness: () => Readiness;
  backends: () => unknown[];
  /** Stream clock now (ns). */
  now: () => number;
  /** Bearer token that unlocks raw kernel addresses; undefined = never shown. */
  apiToken?: string | undefined;
  /** The struct-page scanner; undefined when it does not run. */
  scan?: ScanService | undefined;
  startedAt?: Date;
  logger?: boolean | object;
  /** The daemon's log: every 5xx is logged here with its cause. */
  log?: Logger | undefined;
}

const MAX_LIMIT = 1000;

export function buildServer(d: ServerDeps): FastifyInstance {
  const app = Fastify({
    logger: d.logger ?? false,
    // A misbehaving client must not hold sockets forever.
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    keepAliveTimeout: 5_000,
    bodyLimit: 16 * 1024,
    // Fastify's default Ajv strips properties a schema does not allow; a misspelt filter
    // (?knd=…) must be a 400, not a silently unfiltered answer.
    ajv: { customOptions: { removeAdditional: false } },
    // Errors fastify raises before any route (an undecodable URL) take the one error path too.
    frameworkErrors: requestErrorHandler(d.log),
    clientErrorHandler,
  });
  const started = d.startedAt ?? new Date();

  const authed = (req: FastifyRequest): boolean => hasApiToken(req, d.apiToken);
  app.setErrorHandler(requestErrorHandler(d.log));
  app.setNotFoundHandler(notFoundHandler);
  redactResponses(app, d.apiToken);

  app.get('/metrics', async (_req, reply) => {
    const { contentType, body } = await d.metrics.render();
    return reply.type(contentType).send(body);
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const r = d.readiness();
    return reply.code(r.ready ? 200 : 503).send(r);
  });

  // The live view (view/ in the package, docs/view.md): static files, and the map endpoint below.
  registerViewAssets(app);
  const maps = new MapService(d.state, d.scan);

  app.get('/api/state', async (req) => {
    const s = d.state;
    const now = d.now();
    const all = sumFolioCounts(pgmapFolioSeries(s, d.scan).map((x) => x.counts));
    return {
      kernel: d.kernel,
      startedAt: started.toISOString(),
      uptimeSeconds: (Date.now() - started.getTime()) / 1000,
      events: {
        total: s.eventsTotal,
        byType: eventCountsByType(s),
        lost: Object.fromEntries(s.lostByBackend),
        /** By `backend:reason` (buffer, recursion_miss: docs/kernel-model.md §11). */
        lostByReason: Object.fromEntries(s.lostByReason),
        missedByProbe: [...s.missesByProbe.values()],
      },
      backends: d.backends(),
      probes: [...s.probes.values()],
      pgmaps: s.pgmaps.all.map((p) => pgmapJson(p, authed(req), d.scan)),
      folios: {
        tracked: s.folios.size,
        /** Summed over the pgmaps not torn down, as daxmon_pgmap_folios (untracked scanned folios idle). */
        byState: all.byState,
        ...(s.model === 'old'
          ? {
              stateNotes: {
                mapped_unknown:
                  'mapped through a devmap entry since its DAX entry was inserted; whether it is still mapped is not observable on this kernel (no unmap hook, no mapcount: docs/kernel-model.md §12)',
              },
            }
          : {}),
        uncertain: all.uncertain,
        bytes: s.folios.bytes + s.history.bytes,
        outsidePgmap: s.outsidePgmap,
        evicted: s.evicted,
        untracked: s.untracked,
        unassigned: s.unassigned.tracked,
      },
      waits: [...s.waits.values()].map((w) => ({
        pid: w.pid,
        comm: w.comm,
        tid: w.tid,
        fn: w.fn,
        dev: formatDev(w.dev),
        ino: w.ino,
        ageSeconds: Math.max(0, (now - w.beginT) / 1e9),
        busyPages: w.busyCount,
        busyPfns: w.busyPfns,
        uninterruptible: w.uninterruptible,
        uncertain: w.uncertain,
      })),
      gupLongtermRefused: s.gupLongtermRefused,
      violations: { stored: d.violations.size },
      scan: d.scan ? { ...d.scan.stats } : null,
    };
  });

  app.get('/api/pgmaps', async (req) => d.state.pgmaps.all.map((p) => pgmapJson(p, authed(req), d.scan)));

  app.get<{ Params: { id: string } }>('/api/pgmaps/:id', async (req, reply) => {
    const p = d.state.pgmaps.byId(req.params.id);
    if (!p) return reply.code(404).send(notFound(`no pgmap ${req.params.id}; see /api/pgmaps`));
    return pgmapJson(p, authed(req), d.scan);
  });

  // The last scan's reading of each page: served from the snapshot, never read from the kernel
  // here, so a request costs at most MAX_PAGES_PER_REQUEST rows and cannot stall event intake.
  app.get<{ Params: { id: string }; Querystring: Record<string, unknown> }>(
    '/api/pgmaps/:id/pages',
    async (req, reply) => {
      const p = d.state.pgmaps.byId(req.params.id);
      if (!p) return reply.code(404).send(notFound(`no pgmap ${req.params.id}; see /api/pgmaps`));
      const q = parsePagesQuery(req.query);
      if (!q.ok) return reply.code(400).send(apiError('DAXMON_E_API_QUERY', q.message));
      const snap = d.scan?.snapshot(p.id);
      if (!d.scan || !snap || snap.completedAt === null)
        return reply
          .code(503)
          .send(
            apiError(
              'DAXMON_E_API_NO_SCAN',
              d.scan
                ? `pgmap ${p.id} has not been scanned yet; retry after the first scan`
                : 'the struct-page scanner is not running (daxmon run --scan-interval-seconds N, as root or through the daxmon-caps launcher: docs/privileges.md)',
            ),
          );
      const fromPfn = q.fromPfn ?? p.ranges[0]!.pfn;
      const from = snap.indexOf(fromPfn);
      if (from < 0)
        return reply
          .code(400)
          .send(
            apiError(
              'DAXMON_E_API_QUERY',
              `pfn ${fromPfn} is not in pgmap ${p.id} (${p.ranges.map((r) => `${r.pfn}+${r.nrPages}`).join(', ')})`,
            ),
          );
      return {
        pgmap: p.id,
        type: p.type,
        model: d.state.model,
        scannedAt: new Date(snap.completedAt).toISOString(),
        nrPages: snap.nrPages,
        /** 1: every scanned page carries the same pgmap pointer (values stay private). */
        pgmapWordsDistinct: snap.pgmapWords.size,
        from: fromPfn,
        pages: snap.pages(from, q.count),
      };
    },
  );

  // The page-state map the live view draws: per-cell state counts, computed on request at most
  // every MAP_MIN_INTERVAL_MS per pgmap (view/map-service.ts), never on the intake path.
  app.get<{ Params: { id: string }; Querystring: Record<string, unknown> }>(
    '/api/pgmaps/:id/map',
    async (req, reply) => {
      const p = d.state.pgmaps.byId(req.params.id);
      if (!p) return reply.code(404).send(notFound(`no pgmap ${req.params.id}; see /api/pgmaps`));
      const q = parseMapQuery(req.query);
      if (!q.ok) return reply.code(400).send(apiError('DAXMON_E_API_QUERY', q.message));
      return maps.map(p, q.cells);
    },
  );

  app.get<{
    Querystring: {
      kind?: string;
      severity?: 'warning' | 'error';
      pgmap?: string;
      since?: string;
      until?: string;
      before?: string;
      limit?: number;
    };
  }>(
    '/api/violations',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            kind: { type: 'string', enum: [...VIOLATION_KINDS] },
            severity: { type: 'string', enum: ['warning', 'error'] },
            pgmap: { type: 'string', pattern: '^pm[0-9]+$' },
            since: { type: 'string', format: 'date-time' },
            until: { type: 'string', format: 'date-time' },
            before: { type: 'string', pattern: '^v[0-9]+$' },
            limit: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: 100 },
          },
        },
      },
    },
    async (req) => {
      const q = req.query;
      // The window fields say what the page cannot show: violations older than the ones kept,
      // and journal records lost to damage (docs/journal.md).
      return {
        ...d.violations.window(),
        ...d.violations.query({
          kind: q.kind as (typeof VIOLATION_KINDS)[number] | undefined,
          severity: q.severity,
          pgmap: q.pgmap,
          since: q.since ? isoInstant('since', q.since) : undefined,
          until: q.until ? isoInstant('until', q.until) : undefined,
          before: q.before,
          limit: q.limit ?? 100,
        }),
      };
    },
  );

  app.get<{ Params: { id: string } }>('/api/violations/:id', async (req, reply) => {
    const v = d.violations.get(req.params.id);
    if (!v && d.violations.isOlderThanWindow(req.params.id))
      return sendApiError(
        reply,
        'DAXMON_E_API_VIOLATION_ROTATED',
        `${req.params.id} is older than the ${d.violations.window().retained} violations kept (oldest kept: ${d.violations.oldestId ?? 'none'}); it was rotated out: look in the journal files, or raise --retain-violations`,
      );
    if (!v)
      return reply
        .code(404)
        .send(
          notFound(`no violation ${req.params.id} (it may be older than the API keeps; see the journal)`),
        );
    return v;
  });

  app.get('/api/checks', async () => d.engine.activity());

  return app;
}

function notFound(message: string) {
  return apiError('DAXMON_E_API_NOT_FOUND', message);
}

function pgmapJson(p: Pgmap, raw: boolean, scan: ServerDeps['scan']) {
  // The same counts as daxmon_pgmap_folios (state/figures.ts): after a scan, every folio.
  const c = pgmapFolioCounts(p, scan);
  return {
    id: p.id,
    type: p.type,
    device: p.device,
    phase: p.phase,
    source: p.source,
    ranges: p.ranges,
    pages: p.ranges.reduce((a, r) => a + r.nrPages, 0),
    vmemmapShift: p.vmemmapShift,
    hasPageFree: p.hasPageFree,
    altmap: p.altmap,
    announcements: p.announcements,
    tracked: c.tracked,
    uncertain: c.uncertain,
    scannedFolios: c.scannedFolios,
    untrackedIdle: c.untrackedIdle,
    folios: c.byState,
    ...(raw ? { kernelKey: p.key } : {}),
  };
}
