import { describe, expect, it } from 'vitest';
import type { PageBatch } from '../../src/scan/frames.js';
import { FrameReader, encodePageBatch } from '../../src/scan/frames.js';
import { reconcileBatch } from '../../src/scan/reconcile.js';
import { PgmapSnapshot, SNAPSHOT_BYTES_PER_PAGE } from '../../src/scan/snapshot.js';
import { STATE_CODE } from '../../src/state/folio-store.js';
import { PMEM_PFN, Stream } from '../helpers/events.js';
import { run } from '../helpers/pipeline.js';

type Page = Parameters<typeof encodePageBatch>[1][number];

function batch(startPfn: number, pages: Page[]): PageBatch {
  const f = new FrameReader().push(encodePageBatch(startPfn, pages))[0]!;
  if (f.kind !== 'pages') throw new Error('not a page frame');
  return f.batch;
}

/** n idle pages for the model, with `over` replacing some of them (by offset). */
function pages(n: number, idle: number, over: Record<number, Page> = {}): Page[] {
  return Array.from({ length: n }, (_, i) => over[i] ?? { refcount: idle, mapcount: 0 });
}

describe('reconciliation of tracked folios with a struct-page scan', () => {
  it('counts no drift when the events told the truth, and leaves idle untracked pages untracked', () => {
    const s = new Stream('new')
      .pgmap()
      .insert(PMEM_PFN + 1)
      .map(PMEM_PFN + 1, 1, 1);
    const { pipeline } = run('new', s);
    const st = pipeline.state;
    const r = reconcileBatch(
      st,
      st.pgmaps.all[0]!,
      batch(PMEM_PFN, pages(64, 0, { 1: { refcount: 1, mapcount: 1, mapping: true } })),
      s.t,
      'new',
    );
    expect(r.drift).toEqual({ refcount: 0, mapcount: 0, state: 0 });
    expect(r.folios).toBe(64);
    expect(r.truthCounts[STATE_CODE.idle]).toBe(63);
    expect(r.truthCounts[STATE_CODE.mapped]).toBe(1);
    expect(r.samples.map((x) => x.pfn)).toEqual([PMEM_PFN + 1]); // the tracked one only
  });

  it('counts drift per field and corrects the tracked folio once the samples are applied', () => {
    const s = new Stream('new').pgmap().insert(PMEM_PFN).map(PMEM_PFN, 1, 1);
    const { pipeline } = run('new', s);
    const st = pipeline.state;
    // the kernel says: unmapped, but still holding a reference (an unmap daxmon missed, plus a get)
    const r = reconcileBatch(
      st,
      st.pgmaps.all[0]!,
      batch(PMEM_PFN, [{ refcount: 1, mapcount: 0, mapping: true }]),
      s.t,
      'new',
    );
    expect(r.drift).toEqual({ refcount: 0, mapcount: 1, state: 1 });
    for (const e of r.samples) pipeline.ingest(e);
    const row = st.folios.find(PMEM_PFN);
    expect([st.folios.refcount[row], st.folios.mapcount[row], st.folios.state[row]]).toEqual([
      1,
      0,
      STATE_CODE.referenced,
    ]);
    expect(st.pgmaps.all[0]!.stateCounts[STATE_CODE.referenced]).toBe(1);
    expect(st.pgmaps.all[0]!.stateCounts[STATE_CODE.mapped]).toBe(0);
  });

  it('starts tracking a folio the events never mentioned when it is not idle', () => {
    const { pipeline } = run('old', new Stream('old').pgmap());
    const st = pipeline.state;
    const r = reconcileBatch(
      st,
      st.pgmaps.all[0]!,
      batch(PMEM_PFN, pages(8, 1, { 5: { refcount: 2, mapcount: 0 } })),
      1,
      'old',
    );
    expect(r.samples.map((x) => [x.pfn, x.refcount])).toEqual([[PMEM_PFN + 5, 2]]);
    expect(r.drift).toEqual({ refcount: 0, mapcount: 0, state: 0 }); // not tracked: nothing to disagree with
    for (const e of r.samples) pipeline.ingest(e);
    expect(st.folios.state[st.folios.find(PMEM_PFN + 5)]).toBe(STATE_CODE.referenced);
  });

  it('makes folios left uncertain by a gap certain again, without calling the gap drift', () => {
    const s = new Stream('new').pgmap().insert(PMEM_PFN).map(PMEM_PFN, 1, 1);
    s.events.push({ type: 'events_lost', t: s.t + 1, pid: 0, comm: 'daxmon', backend: 'libbpf', count: 10 });
    const { pipeline } = run('new', s);
    const st = pipeline.state;
    const row = st.folios.find(PMEM_PFN);
    expect(st.isUncertain(row)).toBe(true);
    const r = reconcileBatch(
      st,
      st.pgmaps.all[0]!,
      batch(PMEM_PFN, [{ refcount: 0, mapcount: 0 }]),
      s.t + 2,
      'new',
    );
    expect(r.recertified).toBe(1);
    expect(r.drift).toEqual({ refcount: 0, mapcount: 0, state: 0 });
    for (const e of r.samples) pipeline.ingest(e);
    expect(st.isUncertain(st.folios.find(PMEM_PFN))).toBe(false);
    expect(st.pgmaps.all[0]!.uncertain).toBe(0);
    expect(st.folios.state[st.folios.find(PMEM_PFN)]).toBe(STATE_CODE.idle);
  });

  it('old model: a devmap-mapped folio reads idle in struct page and that is not drift', () => {
    const s = new Stream('old').pgmap().insert(PMEM_PFN).map(PMEM_PFN, 1, 0);
    const { pipeline } = run('old', s);
    const st = pipeline.state;
    expect(st.folios.state[st.folios.find(PMEM_PFN)]).toBe(STATE_CODE.mapped_unknown);
    const r = reconcileBatch(
      st,
      st.pgmaps.all[0]!,
      batch(PMEM_PFN, [{ refcount: 1, mapcount: 0, mapping: true }]),
      s.t,
      'old',
    );
    expect(r.drift).toEqual({ refcount: 0, mapcount: 0, state: 0 });
  });

  it('skips tails and unreadable pages', () => {
    const { pipeline } = run('new', new Stream('new').pgmap());
    const st = pipeline.state;
    const r = reconcileBatch(
      st,
      st.pgmaps.all[0]!,
      batch(PMEM_PFN, [
        { refcount: 3, mapcount: 1, order: 9, status: 2 },
        { refcount: 0, mapcount: 0, status: 4 },
        { refcount: 0, mapcount: 0, status: 1 },
      ]),
      1,
      'new',
    );
    expect(r.folios).toBe(1);
    expect(r.faults).toBe(1);
    expect(r.samples.map((x) => [x.pfn, x.order])).toEqual([[PMEM_PFN, 9]]);
  });

  it('a scanned folio holding a reference nobody maps or pins is reported as a leak after the threshold', () => {
    const s = new Stream('new').pgmap();
    const first = run('new', s);
    const st = first.pipeline.state;
    const b = batch(PMEM_PFN, [{ refcount: 1, mapcount: 0 }]);
    for (const e of reconcileBatch(st, st.pgmaps.all[0]!, b, s.t, 'new').samples) first.pipeline.ingest(e);
    first.pipeline.tick(s.t + 5e9);
    expect(first.violations).toEqual([]);
    // still there at the next scan, past the (default 30 s) threshold
    for (const e of reconcileBatch(st, st.pgmaps.all[0]!, b, s.t + 40e9, 'new').samples)
      first.pipeline.ingest(e);
    first.pipeline.tick(s.t + 41e9);
    expect(first.violations.map((v) => v.kind)).toEqual(['idle_refcount_mismatch']);
    expect(first.violations[0]!.message).toMatch(/leaked reference/);
  });
});

describe('the pages snapshot', () => {
  it("serves each page with its true state and finds a tail's head", () => {
    const snap = new PgmapSnapshot([{ pfn: PMEM_PFN, nrPages: 8 }], 'fs_dax', 'new');
    snap.store(
      batch(PMEM_PFN, [
        { refcount: 0, mapcount: 0 },
        { refcount: 1, mapcount: 1, mapping: true },
        { refcount: 2, mapcount: 1, order: 1, status: 2 },
        { refcount: 0, mapcount: 0, status: 4 },
      ]),
    );
    snap.completedAt = 1;
    const p = snap.pages(0, 5);
    expect(p.map((x) => x.state)).toEqual(['idle', 'mapped', 'mapped', 'tail', null]);
    expect(p[1]).toMatchObject({ pfn: PMEM_PFN + 1, refcount: 1, mapcount: 1, entry: true });
    expect(p[3]!.headPfn).toBe(PMEM_PFN + 2);
    expect(snap.pgmapWords.size).toBe(1);
    expect(snap.indexOf(PMEM_PFN + 8)).toBe(-1);
  });

  it('stays compact: 10M pages well under 1 GiB', () => {
    expect(SNAPSHOT_BYTES_PER_PAGE * 10_000_000).toBeLessThan(256 * 1024 * 1024);
    const snap = new PgmapSnapshot([{ pfn: 0, nrPages: 1 << 20 }], 'fs_dax', 'new');
    expect(snap.nrPages).toBe(1 << 20);
  });
});

describe('leak detection from scans', () => {
  it('does not call a pin it only saw in a scan (the 1024 bias) a leaked reference', () => {
    const s = new Stream('old').pgmap();
    const r = run('old', s);
    const st = r.pipeline.state;
    const b = batch(PMEM_PFN, [{ refcount: 1 + 1024, mapcount: 0 }]);
    for (const t of [s.t, s.t + 40e9])
      for (const e of reconcileBatch(st, st.pgmaps.all[0]!, b, t, 'old').samples) r.pipeline.ingest(e);
    r.pipeline.tick(s.t + 41e9);
    expect(r.violations).toEqual([]);
    expect(st.folios.state[st.folios.find(PMEM_PFN)]).toBe(STATE_CODE.pinned);
    // and the next scan agrees with it: no drift
    expect(reconcileBatch(st, st.pgmaps.all[0]!, b, s.t + 42e9, 'old').drift.state).toBe(0);
  });
});

describe('GUP references daxmon saw', () => {
  it('a vmsplice (FOLL_GET) reference on a mapped folio: tracked "pinned", read "mapped" with the extra reference, is no drift', () => {
    const s = new Stream('new').pgmap().insert(PMEM_PFN).map(PMEM_PFN, 1, 1).gup('get', PMEM_PFN, 2);
    const { pipeline } = run('new', s);
    const st = pipeline.state;
    expect(st.folios.state[st.folios.find(PMEM_PFN)]).toBe(STATE_CODE.pinned);
    const read = (refcount: number) =>
      reconcileBatch(
        st,
        st.pgmaps.all[0]!,
        batch(PMEM_PFN, [{ refcount, mapcount: 1, mapping: true }]),
        s.t,
        'new',
      );
    expect(read(2).drift).toEqual({ refcount: 0, mapcount: 0, state: 0 });
    // the reference is gone in the kernel but daxmon did not see the put: that is drift
    expect(read(1).drift).toEqual({ refcount: 1, mapcount: 0, state: 1 });
  });
});
