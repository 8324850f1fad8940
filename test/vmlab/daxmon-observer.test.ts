import { describe, expect, it } from 'vitest';
import type { DaxEvent, RefcountModel } from '../../src/events/types.js';
import type { Violation } from '../../src/violations/violation.js';
import {
  countByPhase,
  eventsByScenario,
  parsePhaseLog,
  phaseAt,
  refcountOutcome,
  scenarioAt,
  unavailableCounters,
} from '../vm/daxmon-counts.js';
import { daxmonBootProblems, daxmonScenarioProblems } from '../vm/daxmon-verdict.js';
import type { DaxmonFindings, LiveState, ReplaySummaryJson } from '../vm/observer-daxmon.js';
import { compareLiveToReplay, decodeRecording, recordingPrefix } from '../vm/observer-daxmon.js';
import { planScenarios } from '../vm/runner.js';
import { SCENARIOS } from '../vm/scenarios.js';
import { PMEM_PFN, Stream } from '../helpers/events.js';

const LOG = [
  '101 1000000 50',
  '102 2000000 50',
  '0 3000000 50',
  '201 4000000 60',
  '',
  'garbage',
  '202 5000000 61',
].join('\n');

describe('phase log', () => {
  const marks = parsePhaseLog(LOG);

  it('reads the marks in time order and skips torn lines', () => {
    expect(marks.map((m) => m.phase)).toEqual([101, 102, 0, 201, 202]);
  });

  it('puts a moment in the step in force then, 0 before the first and after a finish', () => {
    expect(phaseAt(marks, 999_999)).toBe(0);
    expect(phaseAt(marks, 1_000_000)).toBe(101);
    expect(phaseAt(marks, 1_999_999)).toBe(101);
    expect(phaseAt(marks, 2_500_000)).toBe(102);
    expect(phaseAt(marks, 3_500_000)).toBe(0);
    expect(phaseAt(marks, 9_999_999)).toBe(202);
  });

  it('keeps the idle time after a workload with its scenario', () => {
    expect(scenarioAt(marks, 500)).toBe(0);
    expect(scenarioAt(marks, 3_500_000)).toBe(100);
    expect(scenarioAt(marks, 4_000_000)).toBe(200);
  });
});

/** One 4 KiB page faulted, mapped and unmapped by the workload, as each model reports it. */
function pageLife(model: RefcountModel, pfn: number, comm = 'daxwl'): Stream {
  const s = new Stream(model, comm);
  s.t = 1_000_000;
  s.push('dax_fault', { dev: 1, ino: 2, pgoff: 0, pmd: false, write: true, result: 0x100 });
  s.push('dax_entry_insert', {
    pfn,
    order: 0,
    dev: 1,
    ino: 2,
    index: 0,
    zero: false,
    empty: false,
    shared: false,
  });
  s.push('folio_map', {
    pfn,
    order: 0,
    via: model === 'new' ? 'vmf_insert_page_mkwrite' : 'vmf_insert_mixed_mkwrite',
    write: true,
    ret: 0x100,
    refcount: model === 'new' ? 2 : 1,
    mapcount: model === 'new' ? 1 : 0,
  });
  s.t = 2_500_000;
  if (model === 'new') {
    s.push('folio_unmap', { pfn, order: 0, nr: 1, refcount: 1, mapcount: 1 });
    s.push('zone_device_free', { pfn, order: 0, refcount: 0, mapcount: 0, pageFreeCalled: null });
    s.push('folio_idle', { pfn, order: 0, refcount: 0 });
  }
  return s;
}

describe('counting daxmon events per step', () => {
  const marks = parsePhaseLog(LOG);

  it('names each event with the comparison counters, in the step it happened in', () => {
    const events = pageLife('new', PMEM_PFN).events;
    const c = countByPhase(events, marks, 'new');
    expect(c.get(101)).toEqual({ pte_fault: 1, entry_insert: 1, insert_page_mkwrite: 1 });
    expect(c.get(102)).toEqual({ unmap: 1, free_zone_device: 1, idle: 1 });
  });

  it('ignores other tasks except for the pgmap lifecycle, which runs from RCU callbacks', () => {
    const other = pageLife('new', PMEM_PFN, 'bash').events;
    const s = new Stream('new', 'rcu_preempt');
    s.t = 4_500_000;
    s.push('pgmap_teardown_begin', { pgmap: 'x' }).push('pgmap_ref_released', { pgmap: 'x' });
    const c = countByPhase([...other, ...s.events], marks, 'new');
    expect([...c.keys()]).toEqual([201]);
    expect(c.get(201)).toEqual({ memunmap_pages: 1, pgmap_ref_release: 1 });
  });

  it('counts a zero-page entry as the hole load and the zero-page insert of the model', () => {
    const s = new Stream('old', 'daxwl');
    s.t = 1_500_000;
    const zero = { pfn: 0, order: 0, dev: 1, ino: 2, index: 5, zero: true, empty: false, shared: false };
    s.push('dax_entry_insert', zero);
    s.push('dax_entry_insert', { ...zero, order: 9 });
    s.push('dax_fault', { dev: 1, ino: 2, pgoff: 0, pmd: true, write: false, result: 0x800 });
    expect(countByPhase(s.events, marks, 'old').get(101)).toEqual({
      load_hole: 1,
      insert_mixed: 1,
      pmd_load_hole: 1,
      pmd_fallback: 1,
    });
    expect(countByPhase(s.events, marks, 'new').get(101)?.insert_page_mkwrite).toBe(1);
  });

  it('maps unattached probes to the counters they would feed', () => {
    expect(
      unavailableCounters([
        { probe: 'devmap_put', attached: false },
        { probe: 'folio_map_pmd', attached: true },
        { probe: 'folio_unmap', attached: false },
      ]),
    ).toEqual(['put_devmap_managed']);
  });
});

describe('refcount model after the last unmap', () => {
  it('new model: every mapped folio freed once at refcount 0', () => {
    const ev = [...pageLife('new', PMEM_PFN).events, ...pageLife('new', PMEM_PFN + 1).events];
    const r = refcountOutcome(ev, 'new');
    expect(r).toMatchObject({ mapped: 2, settled: 2, orders: { 0: 2 }, freeOrders: { 0: 2 }, problems: [] });
  });

  it('new model: a folio never freed is reported', () => {
    const ev = pageLife('new', PMEM_PFN).events.filter((e) => e.type !== 'zone_device_free');
    const r = refcountOutcome(ev, 'new');
    expect(r.settled).toBe(0);
    expect(r.problems[0]).toMatch(/1 of 1 mapped folios did not end freed at refcount 0/);
  });

  it('new model: a free at a non-zero refcount is reported', () => {
    const ev = pageLife('new', PMEM_PFN).events.map((e) =>
      e.type === 'zone_device_free' ? { ...e, refcount: 1 } : e,
    );
    expect(refcountOutcome(ev, 'new').problems[0]).toMatch(/freed at refcount 1/);
  });

  it('old model: a GUP get whose release the kernel hides is set apart only when declared', () => {
    const s = pageLife('old', PMEM_PFN);
    s.push('gup', {
      op: 'get',
      pfn: PMEM_PFN,
      order: 0,
      refs: 1,
      flags: 2,
      result: 0,
      refcount: 2,
      pincount: 0,
    });
    expect(refcountOutcome(s.events, 'old')).toMatchObject({ settled: 0, unseenRelease: 0 });
    const r = refcountOutcome(s.events, 'old', true);
    expect(r).toMatchObject({ settled: 0, unseenRelease: 1, problems: [] });
    // two references above idle is not one unseen release
    s.push('gup', {
      op: 'get',
      pfn: PMEM_PFN,
      order: 0,
      refs: 1,
      flags: 2,
      result: 0,
      refcount: 3,
      pincount: 0,
    });
    expect(refcountOutcome(s.events, 'old', true).problems[0]).toMatch(/last refcount 3/);
  });

  it('old model: back at refcount 1 after a pin is dropped, and no free', () => {
    const s = pageLife('old', PMEM_PFN);
    s.push('gup', {
      op: 'get',
      pfn: PMEM_PFN,
      order: 0,
      refs: 1,
      flags: 2,
      result: 0,
      refcount: 2,
      pincount: 0,
    });
    expect(refcountOutcome(s.events, 'old').settled).toBe(0);
    s.push('folio_put', { pfn: PMEM_PFN, order: 0, refs: 1, refcount: 2 });
    expect(refcountOutcome(s.events, 'old')).toMatchObject({ mapped: 1, settled: 1, problems: [] });
    s.push('zone_device_free', { pfn: PMEM_PFN, order: 0, refcount: 0, mapcount: 0, pageFreeCalled: null });
    expect(refcountOutcome(s.events, 'old').problems.join(' ')).toMatch(/never frees/);
  });
});

function violation(t: number, kind = 'refcount_underflow'): Violation {
  return { id: 'v1', kind, invariant: 'V2', t, pfn: 1, comm: 'daxwl', pid: 1, message: 'm' } as Violation;
}

function findings(over: Partial<DaxmonFindings> = {}): DaxmonFindings {
  return {
    backend: 'libbpf',
    model: 'new',
    readyMs: 1000,
    events: 10,
    lost: 0,
    probes: [],
    violationsByScenario: new Map(),
    refcounts: new Map(),
    live: undefined,
    replay: undefined,
    replayDiffs: [],
    ...over,
  };
}

describe('daxmon verdict', () => {
  const plan = planScenarios(SCENARIOS.filter((s) => s.needs === 'fs'));
  const ctxNew = { model: 'new' as const, series: '7', pmem: 'memmap' as const, fs: 'ext4' as const };
  const pte = plan.find((p) => p.scenario.name === 'pte-fault')!;
  const pmd = plan.find((p) => p.scenario.name === 'pmd-fault')!;
  const unbind = plan.find((p) => p.scenario.name === 'unbind-mapped')!;
  const settled = {
    mapped: 1,
    settled: 1,
    unseenRelease: 0,
    orders: { 0: 1 },
    freeOrders: { 0: 1 },
    problems: [],
  };

  it('accepts a healthy scenario without violations whose folios settled', () => {
    const f = findings({ refcounts: new Map([[pte.base, settled]]) });
    expect(daxmonScenarioProblems(pte, ctxNew, f).problems).toEqual([]);
  });

  it('fails a healthy scenario with a violation (a false alarm)', () => {
    const f = findings({
      refcounts: new Map([[pte.base, settled]]),
      violationsByScenario: new Map([[pte.base, [violation(5)]]]),
    });
    expect(daxmonScenarioProblems(pte, ctxNew, f).problems[0]).toMatch(/healthy scenario, daxmon reported 1/);
  });

  it('wants the broken invariant reported in an unhealthy scenario, and nothing else', () => {
    const ok = findings({
      violationsByScenario: new Map([[unbind.base, [violation(5, 'teardown_with_live_folios')]]]),
    });
    // the settle check is skipped too: the holder's pgmap is gone before it could unmap
    expect(daxmonScenarioProblems(unbind, ctxNew, ok).problems).toEqual([]);
    const missed = daxmonScenarioProblems(unbind, ctxNew, findings()).problems;
    expect(missed).toEqual([expect.stringMatching(/daxmon reported no teardown_with_live_folios$/)]);
    const extra = daxmonScenarioProblems(
      unbind,
      ctxNew,
      findings({
        violationsByScenario: new Map([
          [unbind.base, [violation(5, 'teardown_with_live_folios'), violation(6, 'refcount_underflow')]],
        ]),
      }),
    ).problems;
    expect(extra).toEqual([
      expect.stringMatching(/^unexpected violation\(s\) besides teardown_with_live_folios/),
    ]);
  });

  it('knows which scenarios are unhealthy in which model', () => {
    const pin = SCENARIOS.find((s) => s.name === 'pin-truncate-unmapped')!;
    expect(pin.unhealthy?.(ctxNew)).toBeUndefined();
    expect(pin.unhealthy?.({ ...ctxNew, model: 'old', series: '6.12' })?.kinds).toEqual([
      'entry_removed_while_busy',
    ]);
    const healthy = SCENARIOS.filter((s) => !s.unhealthy?.({ ...ctxNew, model: 'old' }));
    expect(healthy.map((s) => s.name)).not.toContain('devdax-unbind');
    expect(healthy).toHaveLength(SCENARIOS.length - 3);
  });

  it('says which refcount ends it could not check, and why', () => {
    const plan61 = planScenarios(SCENARIOS.filter((s) => s.needs === 'fs'));
    const odirect = plan61.find((p) => p.scenario.name === 'odirect')!;
    const ctx61 = { ...ctxNew, model: 'old' as const, series: '6.1' };
    const f = findings({
      model: 'old',
      refcounts: new Map([[odirect.base, { ...settled, mapped: 64, settled: 0, unseenRelease: 64 }]]),
    });
    const v = daxmonScenarioProblems(odirect, ctx61, f);
    expect(v.problems).toEqual([]);
    expect(v.notCovered).toEqual([
      expect.stringMatching(/^refcount end of 64 folio\(s\) not checked: 6\.1 drops/),
    ]);
    expect(odirect.scenario.unseenGetRelease?.({ ...ctx61, series: '6.12' })).toBeUndefined();
  });

  it('wants order-9 folios from PMD faults', () => {
    const f = findings({
      refcounts: new Map([[pmd.base, { ...settled, orders: { 0: 2 }, freeOrders: { 0: 2 } }]]),
    });
    const p = daxmonScenarioProblems(pmd, ctxNew, f).problems;
    expect(p.some((x) => /order-9 folios/.test(x))).toBe(true);
    expect(p.some((x) => /freed as order 9/.test(x))).toBe(true);
  });

  it('reports lost events, early violations and record/replay differences for the boot', () => {
    const p = daxmonBootProblems(
      findings({
        lost: 3,
        violationsByScenario: new Map([[0, [violation(1)]]]),
        replayDiffs: ['folios tracked: live 1 vs replay 2'],
      }),
    );
    expect(p).toEqual([
      'daxmon lost 3 events',
      expect.stringMatching(/^violations before the first scenario/),
      'no live state saved',
      'the recording was not replayed',
      'record/replay: folios tracked: live 1 vs replay 2',
    ]);
  });
});

describe('record vs replay', () => {
  const live: LiveState = {
    state: {
      events: { total: 5, byType: { dax_fault: 5 }, lost: {} },
      probes: [],
      pgmaps: [{ type: 'fs_dax', device: 'namespace0.0', phase: 'live', pages: 262144 }],
      folios: { tracked: 2 },
    },
    violations: { items: [], total: 0 },
  };
  const replay: ReplaySummaryJson = {
    events: { total: 5, byType: { dax_fault: 5 } },
    pgmaps: [{ type: 'fs_dax', device: 'namespace0.0', phase: 'live', pages: 262144 }],
    folios: { tracked: 2, byState: {} },
    violations: { total: 0, byKind: {}, items: [] },
    inputErrors: { count: 0 },
  };

  it('is equal when pgmaps, folios, events and violations agree', () => {
    expect(compareLiveToReplay(live, replay)).toEqual([]);
  });

  it('counts every event: the replay is of the recording up to where the live state was saved', () => {
    const more = { ...replay, events: { total: 6, byType: { dax_fault: 5, backend_stopped: 1 } } };
    expect(compareLiveToReplay(live, more)).toEqual([
      'events: live 5 vs replay 6',
      'backend_stopped events: live 0 vs replay 1',
    ]);
  });

  it('cuts a recording after the live state’s last event, keeping header and bad lines', () => {
    const header = JSON.stringify({
      daxmon: 'events',
      schema: 1,
      created: 'x',
      kernel: { release: '7.3.4', model: 'new' },
    });
    const [a, b, c] = pageLife('new', PMEM_PFN).events.map((e) => JSON.stringify(e));
    const text = `${header}\n${a}\n{"type":"nope"}\n\n${b}\n${c}\n`;
    expect(recordingPrefix(text, 2)).toBe(`${header}\n${a}\n{"type":"nope"}\n\n${b}\n`);
    expect(recordingPrefix(text, 3)).toBe(text);
    expect(recordingPrefix(text, 0)).toBe(`${header}\n`);
    expect(recordingPrefix(text, 4)).toBeUndefined();
    expect(decodeRecording(recordingPrefix(text, 1)!).events).toHaveLength(1);
  });

  it('names every difference', () => {
    const r = {
      ...replay,
      folios: { tracked: 3, byState: {} },
      violations: { total: 1, byKind: {}, items: [violation(1)] },
    };
    expect(compareLiveToReplay(live, r)).toEqual([
      'folios tracked: live 2 vs replay 3',
      'violations: live [] vs replay [refcount_underflow@1]',
    ]);
  });

  it('decodes a recording with daxmon’s decoder', () => {
    const header = JSON.stringify({
      daxmon: 'events',
      schema: 1,
      created: '2026-11-26T00:00:00.000Z',
      kernel: { release: '7.3.4', model: 'new' },
    });
    const ev: DaxEvent = pageLife('new', PMEM_PFN).events[0]!;
    const r = decodeRecording(`${header}\n${JSON.stringify(ev)}\n{"type":"nope"}\n`);
    expect(r.header?.kernel.model).toBe('new');
    expect(r.events).toHaveLength(1);
    expect(r.errors).toHaveLength(1);
    const byScenario = eventsByScenario(r.events, parsePhaseLog(LOG));
    expect([...byScenario.keys()]).toEqual([100]);
  });
});
