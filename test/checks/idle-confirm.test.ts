/**
 * Confirm before you accuse (issue 11, docs/violations.md): idle_refcount_mismatch rests on a
 * refcount daxmon may have computed itself, so with a folio confirmer it is raised only when a
 * re-read of the folio's struct pages agrees. The confirmer here is the daemon's own
 * (scanFolioConfirmer) over a fake scan service whose "kernel" holds a given truth; the readings
 * and answers go through the pipeline and into the recording, and a replay of that recording
 * decides exactly as the live pipeline did.
 */
import { describe, expect, it } from 'vitest';
import { scanFolioConfirmer } from '../../src/daemon/folio-confirmer.js';
import type { DaxEvent, RefcountSample } from '../../src/events/types.js';
import { buildPipeline, type Pipeline } from '../../src/pipeline.js';
import { replay } from '../../src/replay.js';
import { FLAG } from '../../src/state/folio-store.js';
import type { Violation } from '../../src/violations/violation.js';
import { PMEM_PFN, Stream } from '../helpers/events.js';

const P = PMEM_PFN;
const settle = () => new Promise((r) => setImmediate(r));

/** A PMD folio freed and reused by another process; daxmon's arithmetic leaves it at -511 (issue 11). */
function pmdReuse(): Stream {
  const s = new Stream('new').pgmap();
  s.insert(P, 0, 9).map(P, 1, 1, 'vmf_insert_folio_pmd', 9).unmap(P, 1, 1, 1, 9).free(P, 0, 0, 9);
  s.remove(P, 0, 0);
  s.insert(P, 0, 9).map(P, 1, 1, 'vmf_insert_folio_pmd', 9).unmap(P, 1, 1, 512, 9);
  return s.wait(40);
}

/** An order-0 folio left at refcount 1 after its unmap (2 read before it, so 1 is inferred). */
function leaked(): Stream {
  return new Stream('new').pgmap().insert(P).map(P, 2, 1).unmap(P, 2, 1).wait(40);
}

/** The same leak, its refcount 1 read by a periodic scan after the unmap (not inferred). */
function leakedAndRead(): Stream {
  const s = new Stream('new').pgmap().insert(P).map(P, 2, 1).unmap(P, 2, 1);
  s.push('refcount_sample', {
    pfn: P,
    refcount: 1,
    mapcount: 0,
    flags: '0x0',
    tail: false,
    headPfn: null,
    pgmapOk: true,
    order: 0,
    pincount: 0,
  });
  return s.wait(40);
}

type Kernel =
  | { refcount: number; mapcount: number; order: number }
  | { unreadable: string }
  | { tail: true }
  | { gap: true; refcount: number; mapcount: number; order: number };

interface Live {
  pipeline: Pipeline;
  /** Move the stream clock to `t` and let the daemon's timer tick there. */
  clockAt: (t: number) => void;
  violations: Violation[];
  recorded: DaxEvent[];
  asked: { pfn: number; nrPages: number }[];
}

/** The live pipeline with the daemon's folio confirmer over a scanner that reads `kernel`. */
async function live(s: Stream, kernel: Kernel | null): Promise<Live> {
  const violations: Violation[] = [];
  const recorded: DaxEvent[] = [];
  const asked: Live['asked'] = [];
  const pipeline = buildPipeline({
    model: 'new',
    kernelRelease: '7.3.4',
    assumeProbesWhenUnknown: true,
    checkConfig: { idleMismatchSeconds: 30 },
    sink: { violation: (v, u) => void (u === 'new' && violations.push(v)) },
  });
  pipeline.observe((e) => void recorded.push(e));
  const ingest = pipeline.ingest.bind(pipeline);
  let clock = 0;
  if (kernel) {
    pipeline.confirmFoliosWith(
      scanFolioConfirmer({
        state: pipeline.state,
        ingest,
        nowNs: () => clock,
        scan: {
          readFolio: async (pfn, nrPages) => {
            asked.push({ pfn, nrPages });
            await settle();
            if ('unreadable' in kernel) return { read: false, why: kernel.unreadable };
            if ('tail' in kernel) return { read: true, tail: true };
            // events lost while the read waited in the scanner's queue
            if ('gap' in kernel)
              ingest({ type: 'events_lost', t: clock, pid: 0, comm: 'x', backend: 'libbpf', count: 1 });
            const sample: RefcountSample = {
              type: 'refcount_sample',
              t: clock,
              pid: 0,
              comm: 'daxmon-scan',
              pfn,
              refcount: kernel.refcount,
              mapcount: kernel.mapcount,
              flags: '0x0',
              tail: false,
              headPfn: null,
              pgmapOk: true,
              order: kernel.order,
              pincount: 0,
            };
            ingest(sample);
            return { read: true, tail: false, sample };
          },
        },
      }),
    );
  }
  for (const e of s.events) ingest(e);
  const clockAt = (t: number): void => {
    clock = t;
    pipeline.clock(t);
  };
  clockAt(s.t);
  await settle();
  await settle();
  return { pipeline, clockAt, violations, recorded, asked };
}

async function replayOf(l: Live): Promise<Violation[]> {
  const header = {
    daxmon: 'events',
    schema: 1,
    created: '2026-12-04T00:00:00.000Z',
    kernel: { release: '7.3.4', model: 'new' },
    clock: 'recorded',
    confirms: l.pipeline.engine.confirms,
    checkConfig: { ...l.pipeline.engine.config },
  };
  const text = [header, ...l.recorded].map((x) => JSON.stringify(x)).join('\n') + '\n';
  const r = await replay(Buffer.from(text));
  expect(r.errors).toEqual([]);
  return r.violations;
}

const shape = (vs: Violation[]) => vs.map((v) => [v.kind, v.pfn, v.t, v.message, v.details?.confirmed]);

describe('idle_refcount_mismatch: confirm before you accuse', () => {
  it('the -511 of a reused PMD folio is daxmon’s arithmetic: the kernel reads idle, nothing is raised, the folio is resynced', async () => {
    const l = await live(pmdReuse(), { refcount: 0, mapcount: 0, order: 9 });
    expect(l.asked).toEqual([{ pfn: P, nrPages: 512 }]);
    expect(l.violations).toEqual([]);
    const st = l.pipeline.state;
    expect(st.folioConfirmations).toEqual({ confirmed: 0, resynced: 1, unread: 0 });
    const row = st.folios.find(P);
    expect(st.folios.refcount[row]).toBe(0);
    expect(st.folios.flags[row]! & FLAG.INFERRED).toBe(0);
    expect(l.recorded.map((e) => e.type).slice(-2)).toEqual(['refcount_sample', 'folio_confirmation']);
    expect(await replayOf(l)).toEqual([]);
  });

  it('a leak the kernel agrees with is raised, with the kernel’s reading, and the replay raises the same', async () => {
    const l = await live(leaked(), { refcount: 1, mapcount: 0, order: 0 });
    expect(l.asked).toEqual([{ pfn: P, nrPages: 1 }]);
    expect(l.violations).toHaveLength(1);
    expect(l.violations[0]).toMatchObject({
      kind: 'idle_refcount_mismatch',
      pfn: P,
      observed: { refcount: 1, mapcount: 0 },
      details: {
        confirmed: true,
        inferred: false,
        kernel: expect.stringMatching(/^struct page read: refcount 1, mapcount 0/),
      },
    });
    expect(l.pipeline.state.folioConfirmations).toEqual({ confirmed: 1, resynced: 0, unread: 0 });
    expect(shape(await replayOf(l))).toEqual(shape(l.violations));
  });

  it('the kernel holding another wrong value is a new suspect: raised only when a second read, a threshold later, still shows it', async () => {
    const s = pmdReuse();
    const l = await live(s, { refcount: 3, mapcount: 0, order: 9 });
    expect(l.violations).toEqual([]); // 3 is not the -511 daxmon accused: one reading, not a leak
    expect(l.pipeline.state.folioConfirmations).toMatchObject({ confirmed: 0, resynced: 1 });
    l.clockAt(s.t + 29e9);
    await settle();
    expect(l.asked).toHaveLength(1);
    l.clockAt(s.t + 31e9);
    await settle();
    await settle();
    expect(l.asked).toHaveLength(2);
    expect(l.violations.map((v) => [v.observed, v.details?.confirmed])).toEqual([
      [{ refcount: 3, mapcount: 0 }, true],
    ]);
    expect(shape(await replayOf(l))).toEqual(shape(l.violations));
  });

  it('a gap while the read waited, or a pfn that is now a tail page: resynced, nothing raised', async () => {
    const gap = await live(leaked(), { gap: true, refcount: 1, mapcount: 0, order: 0 });
    expect(gap.violations).toEqual([]);
    expect(gap.pipeline.state.folioConfirmations.resynced).toBe(1);
    const tail = await live(leaked(), { tail: true });
    expect(tail.violations).toEqual([]);
    expect(tail.recorded.at(-1)).toMatchObject({ type: 'folio_confirmation', outcome: 'resynced' });
  });

  it('pages that cannot be read: an inferred value is never raised; one the kernel reported at an event is, unconfirmed', async () => {
    for (const inferred of [pmdReuse(), leaked()]) {
      const none = await live(inferred, { unreadable: 'daxmon-scan exited (SIGKILL)' });
      expect(none.violations).toEqual([]);
      expect(none.pipeline.state.folioConfirmations.unread).toBe(1);
    }
    const reported = await live(leakedAndRead(), { unreadable: 'daxmon-scan exited (SIGKILL)' });
    expect(reported.violations.map((v) => [v.details?.confirmed, v.details?.kernel])).toEqual([
      [false, 'daxmon-scan exited (SIGKILL)'],
    ]);
    expect(shape(await replayOf(reported))).toEqual(shape(reported.violations));
  });

  it('without a folio confirmer (no scanner) the check judges as before: nothing is asked', async () => {
    const l = await live(pmdReuse(), null);
    expect(l.pipeline.engine.confirms).toEqual([]);
    expect(l.violations.map((v) => [v.kind, v.details?.inferred, v.details?.confirmed])).toEqual([
      ['idle_refcount_mismatch', true, undefined],
    ]);
  });

  it('asks once per suspect: ticks while the answer is pending do not ask again', async () => {
    const s = leaked();
    const pipeline = buildPipeline({
      model: 'new',
      kernelRelease: '7.3.4',
      assumeProbesWhenUnknown: true,
      checkConfig: { idleMismatchSeconds: 30 },
      sink: { violation: () => {} },
    });
    const asked: number[] = [];
    pipeline.confirmFoliosWith((c) => void asked.push(c.pfn)); // never answers
    for (const e of s.events) pipeline.ingest(e);
    for (let k = 0; k < 5; k++) pipeline.clock(s.t + k * 2e9);
    expect(asked).toEqual([P]);
    // an answer that never comes is asked again, once, after ANSWER_LOST (120 s)
    pipeline.clock(s.t + 121e9);
    expect(asked).toEqual([P, P]);
  });
});

describe('scanFolioConfirmer', () => {
  it('answers unread at once when too many reads are waiting, and never inside the ingest that asked', async () => {
    const answers: DaxEvent[] = [];
    const pipeline = buildPipeline({ model: 'new', kernelRelease: '7.3.4', sink: { violation: () => {} } });
    let release: () => void = () => {};
    const confirm = scanFolioConfirmer({
      state: pipeline.state,
      ingest: (e) => void answers.push(e),
      nowNs: () => 7,
      maxPending: 1,
      scan: {
        readFolio: () =>
          new Promise((r) => {
            release = () => r({ read: false, why: 'test' });
          }),
      },
    });
    const c = { kind: 'idle_refcount_mismatch', t: 1, nrPages: 1, refcount: 1, gapGen: 0 } as const;
    confirm({ ...c, pfn: P });
    confirm({ ...c, pfn: P + 1 });
    expect(answers).toEqual([]);
    await settle();
    expect(answers).toMatchObject([
      {
        type: 'folio_confirmation',
        pfn: P + 1,
        outcome: 'unread',
        detail: '1 confirmations already waiting for the scanner',
        t: 7,
      },
    ]);
    release();
    await settle();
    expect(answers.map((e) => (e as { pfn: number }).pfn)).toEqual([P + 1, P]);
  });

  it('answers unread when the scanner does not answer in time, and only once', async () => {
    const answers: DaxEvent[] = [];
    const pipeline = buildPipeline({ model: 'new', kernelRelease: '7.3.4', sink: { violation: () => {} } });
    let release: () => void = () => {};
    const confirm = scanFolioConfirmer({
      state: pipeline.state,
      ingest: (e) => void answers.push(e),
      nowNs: () => 7,
      timeoutMs: 20,
      scan: { readFolio: () => new Promise((r) => (release = () => r({ read: false, why: 'late' }))) },
    });
    confirm({ kind: 'idle_refcount_mismatch', t: 1, pfn: P, nrPages: 1, refcount: 1, gapGen: 0 });
    await new Promise((r) => setTimeout(r, 60));
    expect(answers).toMatchObject([
      { outcome: 'unread', detail: 'the scanner did not answer within 0.02 s' },
    ]);
    release();
    await settle();
    expect(answers).toHaveLength(1);
  });

  it('never lets an ingest failure escape as an unhandled rejection', async () => {
    const errors: unknown[] = [];
    const pipeline = buildPipeline({ model: 'new', kernelRelease: '7.3.4', sink: { violation: () => {} } });
    const confirm = scanFolioConfirmer({
      state: pipeline.state,
      ingest: () => {
        throw new Error('journal closed');
      },
      nowNs: () => 7,
      onError: (e) => void errors.push(e),
      scan: { readFolio: async () => ({ read: false, why: 'x' }) },
    });
    confirm({ kind: 'idle_refcount_mismatch', t: 1, pfn: P, nrPages: 1, refcount: 1, gapGen: 0 });
    await settle();
    expect(errors.map((e) => (e as Error).message)).toEqual(['journal closed']);
  });
});
