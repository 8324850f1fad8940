import { describe, expect, it } from 'vitest';
import { DEFAULT_CHECK_CONFIG } from '../../src/checks/types.js';
import { scanFolioConfirmer } from '../../src/daemon/folio-confirmer.js';
import { PMEM_PFN, Stream } from '../helpers/events.js';
import { scanWorld as world } from '../helpers/scan-world.js';

const metric = (text: string, series: string) => {
  const l = text.split('\n').find((x) => x.startsWith(series + ' '));
  return l === undefined ? undefined : Number(l.split(' ').pop());
};

describe('scan service: metrics and the pages API reflect the kernel after each scan', () => {
  it('counts every folio of the pgmap by its true state, and the drift of the tracked ones', async () => {
    const w = world(10000);
    // the kernel: the tracked folio was unmapped (missed), two others are mapped and referenced
    w.image.set(PMEM_PFN + 5, { refcount: 1, mapcount: 1, mapping: true });
    w.image.set(PMEM_PFN + 6, { refcount: 3, mapcount: 0, mapping: true });
    await w.scan.scanNow();
    const text = (await w.metrics.render()).body;
    expect(metric(text, 'daxmon_pgmap_folios{pgmap="pm0",state="idle"}')).toBe(9998);
    expect(metric(text, 'daxmon_pgmap_folios{pgmap="pm0",state="mapped"}')).toBe(1);
    expect(metric(text, 'daxmon_pgmap_folios{pgmap="pm0",state="referenced"}')).toBe(1);
    expect(metric(text, 'daxmon_scan_pages_total')).toBe(10000);
    expect(metric(text, 'daxmon_scan_drift_total{field="refcount"}')).toBe(1);
    expect(metric(text, 'daxmon_scan_drift_total{field="mapcount"}')).toBe(1);
    expect(metric(text, 'daxmon_scan_drift_total{field="state"}')).toBe(1);
    expect(metric(text, 'daxmon_scan_duration_seconds_count')).toBe(1);
    expect(metric(text, 'daxmon_scan_last_success_timestamp_seconds')).toBeGreaterThan(1.7e9);
  });

  it('serves per-page truth for a bounded, validated range', async () => {
    const w = world(8192);
    expect((await w.app.inject('/api/pgmaps/pm0/pages')).statusCode).toBe(503);
    w.image.set(PMEM_PFN + 4097, { refcount: 2, mapcount: 1, mapping: true });
    await w.scan.scanNow();
    const r = await w.app.inject(`/api/pgmaps/pm0/pages?from=0x${(PMEM_PFN + 4096).toString(16)}&count=3`);
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body).toMatchObject({
      pgmap: 'pm0',
      type: 'fs_dax',
      model: 'new',
      nrPages: 8192,
      pgmapWordsDistinct: 1,
    });
    expect(body.pages.map((p: { state: string; refcount: number }) => [p.state, p.refcount])).toEqual([
      ['idle', 0],
      ['mapped', 2],
      ['idle', 0],
    ]);
    expect(JSON.stringify(body)).not.toMatch(/0xffff/); // no kernel address without the token
    expect((await w.app.inject('/api/pgmaps/pm0/pages?count=5000')).json()).toMatchObject({
      code: 'DAXMON_E_API_QUERY',
    });
    expect((await w.app.inject(`/api/pgmaps/pm0/pages?from=${PMEM_PFN + 8192}`)).statusCode).toBe(400);
    expect((await w.app.inject('/api/pgmaps/pm9/pages')).statusCode).toBe(404);
    const tail = (await w.app.inject(`/api/pgmaps/pm0/pages?from=${PMEM_PFN + 8190}&count=100`)).json();
    expect(tail.pages).toHaveLength(2);
  });
});

describe('scan service: pgmap churn', () => {
  it('drops the snapshots of pgmaps the state no longer lists, so churn keeps them bounded', async () => {
    const w = world(64);
    const at = { pid: 1, comm: 'ndctl' } as const;
    let t = w.pipeline.state.lastT;
    // 300 namespaces created, scanned and destroyed: far more than the gone ones the state lists
    for (let i = 0; i < 300; i++) {
      const pgmap = `0xffff8880${(0x100000 + i).toString(16)}`;
      w.pipeline.ingest({
        type: 'pgmap_registered',
        t: (t += 1000),
        ...at,
        pgmap,
        pgmapType: 'fs_dax',
        ranges: [{ pfn: PMEM_PFN + 0x100000, nrPages: 64 }],
        vmemmapShift: 0,
        hasPageFree: false,
        altmap: false,
        device: 'namespace1.0',
        source: 'hook',
      });
      await w.scan.scanNow();
      w.pipeline.ingest({ type: 'pgmap_teardown_begin', t: (t += 1000), ...at, pgmap });
      w.pipeline.ingest({ type: 'pgmap_ref_released', t: (t += 1000), ...at, pgmap });
      w.pipeline.ingest({ type: 'pgmap_teardown_done', t: (t += 1000), ...at, pgmap });
    }
    await w.scan.scanNow();
    const listed = w.pipeline.state.pgmaps.all.length;
    expect(listed).toBeLessThan(100);
    expect(w.scan.snapshotCount).toBeLessThanOrEqual(listed);
    // the live pgmap of the world keeps its snapshot
    expect(w.scan.snapshot('pm0')).toBeDefined();
  });
});

describe('scan service: reading one folio for the folio confirmer (confirm before you accuse)', () => {
  /** The world's folio unmapped with 2 read before it: daxmon infers 1, a leak suspect. */
  function suspect(kernel: { refcount: number; mapcount: number } | null) {
    const w = world(64);
    if (kernel) w.image.set(PMEM_PFN, { ...kernel, mapping: true });
    const s = new Stream('new');
    s.t = w.pipeline.state.lastT;
    s.probes(['folio_unmap', 'zone_device_free']).unmap(PMEM_PFN, 2, 1);
    for (const e of s.events) w.pipeline.ingest(e);
    const ingest = w.pipeline.ingest.bind(w.pipeline);
    const nowNs = () => w.pipeline.state.lastT + 1;
    w.pipeline.confirmFoliosWith(
      scanFolioConfirmer({ scan: w.scan, state: w.pipeline.state, ingest, nowNs }),
    );
    w.pipeline.clock(s.t + (DEFAULT_CHECK_CONFIG.idleMismatchSeconds + 1) * 1e9);
    return w;
  }
  const v6 = (w: ReturnType<typeof world>) =>
    w.pipeline.engine.activity().find((c) => c.kind === 'idle_refcount_mismatch')!.violations;

  it('a kernel that holds the folio idle resyncs it: nothing raised, counted, the counts are the kernel’s', async () => {
    const w = suspect({ refcount: 0, mapcount: 0 });
    await new Promise((r) => setImmediate(r));
    expect(v6(w)).toBe(0);
    const text = (await w.metrics.render()).body;
    expect(
      metric(text, 'daxmon_confirmations_total{check="idle_refcount_mismatch",outcome="resynced"}'),
    ).toBe(1);
    const row = w.pipeline.state.folios.find(PMEM_PFN);
    expect(w.pipeline.state.folios.refcount[row]).toBe(0);
  });

  it('a kernel that holds the leaked reference confirms it: raised', async () => {
    const w = suspect({ refcount: 1, mapcount: 0 });
    await new Promise((r) => setImmediate(r));
    expect(v6(w)).toBe(1);
    const text = (await w.metrics.render()).body;
    expect(
      metric(text, 'daxmon_confirmations_total{check="idle_refcount_mismatch",outcome="confirmed"}'),
    ).toBe(1);
  });

  it('says why when it cannot read: a pfn outside every live pgmap, a scanner that failed', async () => {
    const w = world(64);
    expect(await w.scan.readFolio(PMEM_PFN + 4096, 1)).toEqual({
      read: false,
      why: `no live pgmap holds pfn ${PMEM_PFN + 4096}`,
    });
    const failing = world(64);
    failing.scan['o'].scanner.scan = () => Promise.reject(new Error('daxmon-scan exited (SIGKILL)'));
    expect(await failing.scan.readFolio(PMEM_PFN, 1)).toEqual({
      read: false,
      why: 'daxmon-scan exited (SIGKILL)',
    });
    const ok = await w.scan.readFolio(PMEM_PFN, 1);
    expect(ok).toMatchObject({ read: true, sample: { type: 'refcount_sample', pfn: PMEM_PFN, refcount: 0 } });
  });
});
