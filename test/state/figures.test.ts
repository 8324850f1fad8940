import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { DaxEvent } from '../../src/events/types.js';
import { SCAN_HEAD, SCAN_TAIL } from '../../src/scan/frames.js';
import { folioCounts, sumFolioCounts } from '../../src/state/figures.js';
import { FOLIO_STATES } from '../../src/state/folio-store.js';
import { DaxmonMetrics } from '../../src/metrics/registry.js';
import { buildPipeline } from '../../src/pipeline.js';
import { buildServer } from '../../src/server/app.js';
import { ViolationStore } from '../../src/violations/store.js';
import { PMEM_PAGES, PMEM_PFN, Stream } from '../helpers/events.js';
import { scanWorld } from '../helpers/scan-world.js';

// Issue 12 ("numbers that disagree"): the same state, read through /metrics and through the API,
// must give the same figure; each test below reproduces one disagreement a newcomer saw.

type World = Pick<ReturnType<typeof scanWorld>, 'pipeline' | 'metrics' | 'app'>;

/** The pipeline, metrics and server daxmon run wires, without a scanner. */
function plainWorld(): World {
  const pipeline = buildPipeline({ model: 'new', kernelRelease: '7.3.4', sink: { violation() {} } });
  const sources = { state: pipeline.state, engine: pipeline.engine, now: () => pipeline.state.lastT };
  const metrics = new DaxmonMetrics(
    { ...sources, kernel: { release: '7.3.4', model: 'new' }, backends: () => [] },
    { processMetrics: false },
  );
  const app = buildServer({
    ...sources,
    metrics,
    violations: new ViolationStore(),
    kernel: { release: '7.3.4', model: 'new', evidence: [] },
    readiness: () => ({ ready: true, reason: '' }),
    backends: () => [],
  });
  return { pipeline, metrics, app };
}

async function metrics(w: World): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const l of (await w.metrics.render()).body.split('\n')) {
    if (l.startsWith('#') || !l.trim()) continue;
    const i = l.lastIndexOf(' ');
    out.set(l.slice(0, i), Number(l.slice(i + 1)));
  }
  return out;
}

async function api(w: World, url: string) {
  const r = await w.app.inject(url);
  expect(r.statusCode).toBe(200);
  return r.json();
}

/** Every state of every pgmap: the metric's series and the API's `folios` must be the same numbers. */
async function expectMetricEqualsApi(w: World): Promise<void> {
  const m = await metrics(w);
  const pgmaps = (await api(w, '/api/pgmaps')) as {
    id: string;
    phase: string;
    uncertain: number;
    folios: Record<string, number>;
  }[];
  const state = (await api(w, '/api/state')) as { folios: { byState: Record<string, number> } };
  const sum: Record<string, number> = {};
  for (const p of pgmaps.filter((x) => x.phase !== 'gone')) {
    for (const s of FOLIO_STATES) {
      expect(m.get(`daxmon_pgmap_folios{pgmap="${p.id}",state="${s}"}`), `${p.id} ${s}`).toBe(p.folios[s]);
      sum[s] = (sum[s] ?? 0) + p.folios[s]!;
    }
    expect(m.get(`daxmon_pgmap_folios{pgmap="${p.id}",state="uncertain"}`)).toBe(p.uncertain);
  }
  expect(state.folios.byState).toEqual(sum);
}

/** 2 folios mapped-then-unmapped to idle, 12 freed, as the newcomer's pgmap had. */
function twoIdleTwelveFree(w: World): void {
  const s = new Stream('new');
  s.t = w.pipeline.state.lastT;
  s.unmap(PMEM_PFN, 1, 1).push('folio_idle', { pfn: PMEM_PFN, refcount: 0 } as never);
  s.insert(PMEM_PFN + 1);
  for (let i = 0; i < 12; i++) s.healthyPage(PMEM_PFN + 100 + i);
  for (const e of s.events) w.pipeline.ingest(e);
}

describe('pgmap folio counts: one definition for daxmon_pgmap_folios, /api/pgmaps and /api/state', () => {
  it('before any scan both show the tracked folios only', async () => {
    const w = scanWorld(PMEM_PAGES);
    twoIdleTwelveFree(w);
    const [p] = await api(w, '/api/pgmaps');
    expect(p.folios).toMatchObject({ idle: 2, free: 12, mapped: 0 });
    expect(p).toMatchObject({ tracked: 14, scannedFolios: null, untrackedIdle: 0 });
    await expectMetricEqualsApi(w);
  });

  it('after a scan both count every folio of the pgmap, the untracked ones as idle (was: API idle 2, metric idle 262132)', async () => {
    const w = scanWorld(PMEM_PAGES);
    twoIdleTwelveFree(w);
    await w.scan.scanNow();
    const [p] = await api(w, '/api/pgmaps');
    expect(p.folios).toMatchObject({ idle: PMEM_PAGES - 12, free: 12 });
    expect(p).toMatchObject({ tracked: 14, scannedFolios: PMEM_PAGES, untrackedIdle: PMEM_PAGES - 14 });
    const m = await metrics(w);
    expect(m.get('daxmon_pgmap_folios{pgmap="pm0",state="idle"}')).toBe(262132);
    await expectMetricEqualsApi(w);
  });

  it('a torn-down pgmap has no folios, whatever its last scan counted', async () => {
    const w = scanWorld(4096);
    await w.scan.scanNow();
    const s = new Stream('new');
    s.t = w.pipeline.state.lastT;
    s.push('pgmap_teardown_begin', { pgmap: '0xffff888100a00000' });
    s.push('pgmap_teardown_done', { pgmap: '0xffff888100a00000' });
    for (const e of s.events) w.pipeline.ingest(e);
    const [p] = await api(w, '/api/pgmaps');
    expect(p.phase).toBe('gone');
    expect(Object.values(p.folios as Record<string, number>).every((n) => n === 0)).toBe(true);
    expect((await metrics(w)).has('daxmon_pgmap_folios{pgmap="pm0",state="idle"}')).toBe(false);
  });

  it('folioCounts adds a scan only to idle, and sums add up', () => {
    const b = { stateCounts: new Int32Array([2, 1, 0, 0, 12, 0]), uncertain: 1, tracked: 15 };
    const c = folioCounts(b, 100);
    expect(c.byState).toEqual({ idle: 87, mapped: 1, pinned: 0, referenced: 0, free: 12, mapped_unknown: 0 });
    expect(c.untrackedIdle).toBe(85);
    // a scan that counted fewer folios than are tracked (folios found since) adds nothing
    expect(folioCounts(b, 10).byState.idle).toBe(2);
    const sum = sumFolioCounts([c, folioCounts(b, null)]);
    expect(sum).toMatchObject({ tracked: 30, uncertain: 2, untrackedIdle: 85, scannedFolios: 100 });
    expect(sum.byState.idle).toBe(89);
  });
});

describe('pgmap_registered: an event count, not a pgmap count', () => {
  // The two registrations of the VM recording: daxmon's sysfs walk at start-up, then the libbpf
  // probe's first sight of a folio of the same pgmap (kernel key, same range).
  const recorded = fs
    .readFileSync(new URL('../fixtures/vm/healthy-7-ext4.ndjson', import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"pgmap_registered"'))
    .map((l) => JSON.parse(l) as DaxEvent);

  it('the start-up discovery and the probe discovery of one pgmap are 2 events, 1 pgmap, 2 announcements of it', async () => {
    expect(
      recorded.map((e) => e.type === 'pgmap_registered' && [e.source, e.pgmap.startsWith('sysfs:')]),
    ).toEqual([
      ['discovered', true],
      ['discovered', false],
    ]);
    const w = plainWorld();
    for (const e of [
      ...new Stream('new').pgmap('generic', 0x200000, 512, '0xffff888200b00000').events,
      ...recorded,
    ])
      w.pipeline.ingest(e);
    const m = await metrics(w);
    const state = await api(w, '/api/state');
    const pgmaps = (await api(w, '/api/pgmaps')) as { id: string; announcements: number }[];
    expect(m.get('daxmon_events_total{type="pgmap_registered"}')).toBe(3);
    expect(state.events.byType.pgmap_registered).toBe(3);
    expect(m.get('daxmon_pgmaps')).toBe(2);
    expect(pgmaps.map((p) => [p.id, p.announcements])).toEqual([
      ['pm0', 1],
      ['pm1', 2],
    ]);
    expect(pgmaps.reduce((a, p) => a + p.announcements, 0)).toBe(state.events.byType.pgmap_registered);
  });

  it('every event type counts the same in the metric and /api/state', async () => {
    const w = scanWorld(4096);
    twoIdleTwelveFree(w);
    const m = await metrics(w);
    const state = await api(w, '/api/state');
    const fromMetric = Object.fromEntries(
      [...m]
        .filter(([k]) => k.startsWith('daxmon_events_total{'))
        .map(([k, v]) => [/type="([^"]+)"/.exec(k)![1]!, v]),
    );
    expect(fromMetric).toEqual(state.events.byType);
    expect(Object.values(fromMetric).reduce((a, b) => a + b, 0)).toBe(state.events.total);
  });
});

describe('compound_pgmap_mismatch (V7) and the struct-page scanner', () => {
  const v7 = async (w: World) =>
    ((await api(w, '/api/checks')) as { kind: string; active: boolean; reason: string }[]).find(
      (c) => c.kind === 'compound_pgmap_mismatch',
    )!;

  it('before a scan it is inactive and says no scan has completed; after one it is active in the API and the metric (was: "needs scan")', async () => {
    const w = scanWorld(4096);
    const before = await v7(w);
    expect(before.active).toBe(false);
    expect(before.reason).toContain('no struct-page scan has completed yet');
    expect((await metrics(w)).get('daxmon_check_active{kind="compound_pgmap_mismatch"}')).toBe(0);
    await w.scan.scanNow();
    const after = await v7(w);
    expect(after).toMatchObject({ active: true, reason: 'probes attached: scan' });
    expect((await metrics(w)).get('daxmon_check_active{kind="compound_pgmap_mismatch"}')).toBe(1);
  });

  it('a scanned compound tail with a refcount of its own is a V7 violation', async () => {
    const w = scanWorld(4096);
    const head = { refcount: 1, mapcount: 0, status: SCAN_HEAD, order: 1 };
    const tail = { refcount: 1, mapcount: 0, status: SCAN_TAIL };
    w.image.set(PMEM_PFN + 512, head);
    w.image.set(PMEM_PFN + 513, tail);
    await w.scan.scanNow();
    const c = await v7(w);
    expect(c).toMatchObject({ active: true, violations: 1 });
  });
});
