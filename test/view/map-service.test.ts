import { describe, expect, it, vi } from 'vitest';
import { SCAN_HEAD, SCAN_TAIL } from '../../src/scan/frames.js';
import { decodeRuns, MAP_STATES } from '../../src/server/view/page-map.js';
import { MAP_MIN_INTERVAL_MS, MapService, parseMapQuery } from '../../src/server/view/map-service.js';
import { PMEM_PFN, Stream } from '../helpers/events.js';
import { scanWorld } from '../helpers/scan-world.js';

/** The map's cells as {state: pages} objects (zeros left out). */
function cells(map: { runs: number[][] }) {
  return decodeRuns(map.runs).map((c) =>
    Object.fromEntries(MAP_STATES.map((s, i) => [s, c[i]!]).filter(([, v]) => v !== 0)),
  );
}

describe('/api/pgmaps/:id/map', () => {
  it('before a scan: tracked folios in their state, every other page unknown', async () => {
    const w = scanWorld(64);
    const r = await w.app.inject('/api/pgmaps/pm0/map?cells=8');
    expect(r.statusCode).toBe(200);
    const m = r.json();
    expect(m).toMatchObject({
      pgmap: 'pm0',
      nrPages: 64,
      pagesPerCell: 8,
      cells: 8,
      scannedAt: null,
      tracked: 1,
    });
    expect(cells(m)[0]).toEqual({ mapped: 1, unknown: 7 });
    expect(cells(m)[1]).toEqual({ unknown: 8 });
  });

  it('after a scan: the scan’s states, tails as their head, compound folios as blocks, live events on top', async () => {
    const w = scanWorld(64);
    w.image.set(PMEM_PFN, { refcount: 1, mapcount: 1, mapping: true });
    w.image.set(PMEM_PFN + 9, { refcount: 1, mapcount: 0, mapping: true });
    w.image.set(PMEM_PFN + 16, { refcount: 1, mapcount: 1, order: 3, status: SCAN_HEAD, mapping: true });
    for (let i = 17; i < 24; i++) w.image.set(PMEM_PFN + i, { refcount: 0, mapcount: 0, status: SCAN_TAIL });
    await w.scan.scanNow();
    let now = 1_000_000;
    const maps = new MapService(w.pipeline.state, w.scan, () => now);
    const p = w.pipeline.state.pgmaps.byId('pm0')!;
    let m = maps.map(p, 8);
    expect(cells(m).slice(0, 4)).toEqual([
      { mapped: 1, idle: 7 },
      { referenced: 1, idle: 7 },
      { mapped: 8 },
      { idle: 8 },
    ]);
    expect(m.blocks).toEqual([{ pfn: PMEM_PFN + 16, order: 3 }]);
    expect(m.scannedAt).not.toBeNull();

    // a live event: page 40 pinned (GUP get while mapped)
    const s = new Stream('new');
    s.t = w.pipeline.state.lastT;
    s.insert(PMEM_PFN + 40)
      .map(PMEM_PFN + 40, 1, 1)
      .gup('get', PMEM_PFN + 40, 2);
    for (const e of s.events) w.pipeline.ingest(e);
    // inside the interval: the same answer, not recomputed
    now += MAP_MIN_INTERVAL_MS - 1;
    expect(maps.map(p, 8)).toBe(m);
    expect(maps.computed).toBe(1);
    now += 1;
    m = maps.map(p, 8);
    expect(maps.computed).toBe(2);
    expect(cells(m)[5]).toEqual({ pinned: 1, idle: 7 });

    // a gap: what daxmon tracks is uncertain until re-read
    w.pipeline.ingest({
      type: 'events_lost',
      t: s.t + 1000,
      pid: 0,
      comm: 'daxmon',
      backend: 'libbpf',
      count: 3,
    });
    now += MAP_MIN_INTERVAL_MS;
    m = maps.map(p, 8);
    expect(cells(m)[5]).toEqual({ uncertain: 1, idle: 7 });
    expect(cells(m)[0]).toEqual({ uncertain: 1, idle: 7 });
    // another cell size is computed at once (one answer kept per pgmap)
    expect(maps.map(p, 64).cells).toBe(64);
    expect(maps.computed).toBe(4);
  });

  it('/api/state says when the last scan was (the health strip’s "last scan")', async () => {
    const w = scanWorld(64);
    expect((await w.app.inject('/api/state')).json().scan).toMatchObject({
      scans: 0,
      lastSuccessUnixSeconds: null,
    });
    await w.scan.scanNow();
    const scan = (await w.app.inject('/api/state')).json().scan;
    expect(scan).toMatchObject({ scans: 1, failures: 0, lastError: null, pagesTotal: 64 });
    expect(scan.lastSuccessUnixSeconds).toBeGreaterThan(1.7e9);
  });

  it('validates the query and the pgmap', async () => {
    const w = scanWorld(64);
    expect((await w.app.inject('/api/pgmaps/pm9/map')).statusCode).toBe(404);
    for (const q of ['cells=0', 'cells=65537', 'cells=x', 'cells=1.5', 'cell=4'])
      expect((await w.app.inject(`/api/pgmaps/pm0/map?${q}`)).json(), q).toMatchObject({
        code: 'DAXMON_E_API_QUERY',
      });
    expect(parseMapQuery({})).toEqual({ ok: true, cells: 4096 });
    expect(parseMapQuery({ cells: '65536' })).toEqual({ ok: true, cells: 65536 });
  });

  it('a 1 GiB pgmap after a scan: a mostly idle map is a few runs, and the scan part is computed once', async () => {
    const w = scanWorld(262144);
    await w.scan.scanNow();
    let now = 0;
    const maps = new MapService(w.pipeline.state, w.scan, () => now);
    const p = w.pipeline.state.pgmaps.byId('pm0')!;
    const readScan = vi.spyOn(w.scan.snapshot('pm0')!, 'stateCodes');
    const m = maps.map(p, 16384);
    expect(m.pagesPerCell).toBe(16);
    expect(JSON.stringify(m.runs).length).toBeLessThan(200);
    now += 1000;
    maps.map(p, 16384);
    maps.map(p, 4096);
    // later computations walk only the tracked folios: the pages were read once, for this scan
    expect(maps.computed).toBe(3);
    expect(readScan).toHaveBeenCalledTimes(1);
    await w.scan.scanNow();
    now += 1000;
    maps.map(p, 4096);
    expect(readScan).toHaveBeenCalledTimes(2);
  });
});
