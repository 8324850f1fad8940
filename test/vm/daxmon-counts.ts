/**
 * Turns what daxmon recorded in the guest into the matrix's per-phase counts. Pure: the observer
 * (observer-daxmon.ts) reads the files, this attributes daxmon's own events to the workload's
 * steps and names them with the comparison's counter names, so a count is exactly what daxmon
 * reported, never a side channel.
 */
import type { DaxEvent, RefcountModel } from '../../src/events/types.js';
import type { Counts, PhaseCounts } from './observer.js';

/** A step boundary daxwl logged: the phase it entered and its CLOCK_MONOTONIC time (ns). */
export interface PhaseMark {
  phase: number;
  t: number;
  pid: number;
}

/** `PHASE T_NS PID` lines ($DAXWL_PHASE_LOG), in time order. Torn or foreign lines are skipped. */
export function parsePhaseLog(text: string): PhaseMark[] {
  const marks: PhaseMark[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+) (\d+) (\d+)$/.exec(line.trim());
    if (!m) continue;
    marks.push({ phase: Number(m[1]), t: Number(m[2]), pid: Number(m[3]) });
  }
  return marks.sort((a, b) => a.t - b.t);
}

/** The phase in force at time t: the last mark at or before it (0 before the first). */
export function phaseAt(marks: readonly PhaseMark[], t: number): number {
  let lo = 0;
  let hi = marks.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (marks[mid]!.t <= t) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found < 0 ? 0 : marks[found]!.phase;
}

/**
 * The scenario a moment belongs to (its phase base), from its first mark to the next scenario's
 * first mark, so the idle time after a workload's last step (its exit, daxmon's periodic checks)
 * counts to it. 0 before the first scenario.
 */
export function scenarioAt(marks: readonly PhaseMark[], t: number): number {
  let base = 0;
  for (const m of marks) {
    if (m.t > t) break;
    if (m.phase > 0) base = Math.floor(m.phase / 100) * 100;
  }
  return base;
}

/**
 * Counters of the comparison that daxmon has no event for, with the reason. The comparison lists
 * each expectation it could not check because of these (compare.ts `notCovered`); docs/vm-lab.md
 * has the same list.
 */
export const DAXMON_NOT_OBSERVED: Readonly<Record<string, string>> = {
  writeback_one: 'daxmon has no probe for fs_dax:dax_writeback_one (writeback does not change a refcount)',
  kernel_warn: 'daxmon does not probe __warn; the scenario checks dmesg for WARNINGs itself',
  kill_dax: 'daxmon does not probe kill_dax; the pgmap teardown it causes is memunmap_pages',
  gup_grab: 'daxmon reports GUP as gup get/pin events (gup_get, gup_pin), not try_grab_folio calls',
  busy_scan: 'daxmon reports only the pages dax_layout_busy_page_range found busy (busy_found)',
  memremap_pages: 'daxmon reports pgmap registration per range (pgmap_registered)',
  break_layout: 'daxmon reports layout breaks as break_<function> (layout_break_begin)',
  xfs_break_layouts: 'see break_layout',
  ext4_break_layouts: 'see break_layout',
};

/** The counters each logical daxmon probe feeds: unattached probe → counters with no hook here. */
export const PROBE_COUNTERS: Readonly<Record<string, readonly string[]>> = {
  dax_fault_pte: ['pte_fault'],
  dax_fault_pmd: ['pmd_fault', 'pmd_fallback'],
  dax_entry_insert: ['entry_insert', 'load_hole', 'pmd_load_hole'],
  dax_entry_remove: ['entry_remove'],
  folio_map_pte: ['insert_page_mkwrite', 'insert_mixed_mkwrite', 'insert_mixed'],
  folio_map_pmd: ['insert_folio_pmd', 'insert_pfn_pmd'],
  devmap_put: ['put_devmap_managed'],
  zone_device_free: ['free_zone_device'],
  busy_page: ['busy_found'],
  pgmap_teardown: ['memunmap_pages'],
  pgmap_ref_release: ['pgmap_ref_release'],
};

/** Counters without a hook on this kernel, from daxmon's own probe_status reports. */
export function unavailableCounters(probes: readonly { probe: string; attached: boolean }[]): string[] {
  const out = new Set<string>();
  for (const p of probes) if (!p.attached) for (const c of PROBE_COUNTERS[p.probe] ?? []) out.add(c);
  return [...out].sort();
}

/** VM_FAULT_FALLBACK (0x800 from 6.1 to 7.x): the PMD fault fell back to 4 KiB faults. */
const VM_FAULT_FALLBACK = 0x800;

/** Events that happen in whatever task is current (an RCU callback, a kworker): not per workload. */
function anyTask(e: DaxEvent): boolean {
  return (
    e.type === 'pgmap_registered' ||
    e.type === 'pgmap_teardown_begin' ||
    e.type === 'pgmap_ref_released' ||
    e.type === 'pgmap_teardown_done'
  );
}

/**
 * The counters one daxmon event stands for. A zero-page DAX entry is what dax_load_hole /
 * dax_pmd_load_hole create (DAX_ZERO_PAGE): it is counted as the hole load, and for a 4 KiB hole
 * also as the insert that maps the shared zero page right after it (vmf_insert_page_mkwrite in the
 * new model, vmf_insert_mixed in the old), because folio_map reports pmem folios only and the zero
 * page is not one. A PMD hole maps the huge zero folio with set_pmd_at, no insert function.
 */
export function countersOf(e: DaxEvent, model: RefcountModel): string[] {
  switch (e.type) {
    case 'dax_fault':
      if (!e.pmd) return ['pte_fault'];
      return [(e.result & VM_FAULT_FALLBACK) !== 0 ? 'pmd_fallback' : 'pmd_fault'];
    case 'dax_entry_insert':
      if (e.zero) {
        if (e.order >= 9) return ['pmd_load_hole'];
        return ['load_hole', model === 'new' ? 'insert_page_mkwrite' : 'insert_mixed'];
      }
      return [e.empty ? 'entry_insert_empty' : 'entry_insert'];
    case 'dax_entry_remove':
      return ['entry_remove'];
    case 'folio_map':
      return [e.via.replace(/^vmf_/, '')];
    case 'folio_unmap':
      return ['unmap'];
    case 'gup':
      return [`gup_${e.op}`];
    case 'gup_longterm_refused':
      return ['gup_longterm_refused'];
    case 'folio_put':
      return ['put_devmap_managed'];
    case 'folio_idle':
      return ['idle'];
    case 'zone_device_free':
      return ['free_zone_device'];
    case 'busy_page_found':
      return ['busy_found'];
    case 'layout_break_begin':
      return [`break_${e.fn}`];
    case 'pgmap_registered':
      return e.source === 'hook' ? ['pgmap_registered'] : [];
    case 'pgmap_teardown_begin':
      return ['memunmap_pages'];
    case 'pgmap_ref_released':
      return ['pgmap_ref_release'];
    case 'pgmap_teardown_done':
      return ['pgmap_teardown_done'];
    default:
      return [];
  }
}

/** The workload's comm: faults of every other process (vvar, the shell) are not the scenario's. */
export const WORKLOAD_COMM = 'daxwl';

export function isWorkloadEvent(e: DaxEvent): boolean {
  return anyTask(e) || e.comm === WORKLOAD_COMM;
}

/** daxmon's events, attributed to the step in force when each happened, as counter → count. */
export function countByPhase(
  events: Iterable<DaxEvent>,
  marks: readonly PhaseMark[],
  model: RefcountModel,
): PhaseCounts {
  const out: PhaseCounts = new Map();
  for (const e of events) {
    if (!isWorkloadEvent(e)) continue;
    const names = countersOf(e, model);
    if (names.length === 0) continue;
    const phase = phaseAt(marks, e.t);
    const c: Counts = out.get(phase) ?? {};
    for (const n of names) c[n] = (c[n] ?? 0) + 1;
    out.set(phase, c);
  }
  return out;
}

/** What a scenario's events say about each pmem folio it mapped, against the refcount model. */
export interface RefcountOutcome {
  /** Distinct folios (head pfns) the workload mapped. */
  mapped: number;
  /** Of those, how many ended where the model says (new: freed at 0; old: back at 1, never freed). */
  settled: number;
  /**
   * Folios whose last event is a GUP get one reference above idle, when the caller said the release
   * of such gets cannot be seen on this kernel (`unseenGetRelease`): not counted as unsettled.
   */
  unseenRelease: number;
  /** Orders of the mapped folios: order → folios. */
  orders: Record<number, number>;
  /** Order of each free: order → frees. */
  freeOrders: Record<number, number>;
  problems: string[];
}

/**
 * The refcount a folio is left at after an event, where the event says. folio_map and gup read
 * after the operation, folio_put before its put, a free is 0; folio_unmap reads before a put that
 * daxmon does not see, so it says nothing about the end.
 */
function refcountAfter(e: DaxEvent): number | undefined {
  switch (e.type) {
    case 'folio_map':
    case 'folio_idle':
    case 'dax_entry_remove':
    case 'gup':
      return e.refcount;
    case 'folio_put':
      return e.refcount - e.refs;
    case 'zone_device_free':
      return 0;
    default:
      return undefined;
  }
}

function pfnOf(e: DaxEvent): number | undefined {
  return 'pfn' in e && typeof e.pfn === 'number' ? e.pfn : undefined;
}

/**
 * After a scenario's last unmap, every folio it mapped must have reached the model's idle state:
 * new model, refcount 0 through free_zone_device_folio (one free per folio, at refcount 0 and
 * mapcount 0); old model, refcount 1 again and no free at all. `events` are the workload's events of
 * one scenario, in stream order.
 */
export function refcountOutcome(
  events: readonly DaxEvent[],
  model: RefcountModel,
  unseenGetRelease = false,
): RefcountOutcome {
  const mappedOrder = new Map<number, number>();
  const last = new Map<number, number>();
  const lastIsGet = new Set<number>();
  const freed = new Map<number, number>();
  const freeOrders: Record<number, number> = {};
  const problems: string[] = [];
  for (const e of events) {
    const pfn = pfnOf(e);
    if (pfn === undefined) continue;
    if (e.type === 'folio_map') {
      mappedOrder.set(pfn, e.order);
      freed.delete(pfn);
    }
    if (e.type === 'zone_device_free') {
      freed.set(pfn, (freed.get(pfn) ?? 0) + 1);
      freeOrders[e.order] = (freeOrders[e.order] ?? 0) + 1;
      if (e.refcount !== 0 || e.mapcount !== 0)
        problems.push(`pfn ${pfn}: freed at refcount ${e.refcount}, mapcount ${e.mapcount}`);
    }
    const r = refcountAfter(e);
    if (r !== undefined && mappedOrder.has(pfn)) {
      last.set(pfn, r);
      if (e.type === 'gup' && e.op === 'get') lastIsGet.add(pfn);
      else lastIsGet.delete(pfn);
    }
  }
  const idle = model === 'new' ? 0 : 1;
  const orders: Record<number, number> = {};
  let settled = 0;
  let unseenRelease = 0;
  const unsettled: string[] = [];
  for (const [pfn, order] of mappedOrder) {
    orders[order] = (orders[order] ?? 0) + 1;
    const frees = freed.get(pfn) ?? 0;
    const ok = model === 'new' ? frees === 1 && last.get(pfn) === 0 : frees === 0 && last.get(pfn) === 1;
    if (ok) settled++;
    else if (unseenGetRelease && lastIsGet.has(pfn) && last.get(pfn) === idle + 1 && frees === 0)
      unseenRelease++;
    else unsettled.push(`pfn ${pfn} (order ${order}): ${frees} free(s), last refcount ${last.get(pfn)}`);
  }
  if (unsettled.length > 0) {
    problems.push(
      `${unsettled.length} of ${mappedOrder.size} mapped folios did not end ${model === 'new' ? 'freed at refcount 0' : 'at refcount 1 without a free'}: ${unsettled.slice(0, 5).join('; ')}`,
    );
  }
  if (model === 'old' && Object.keys(freeOrders).length > 0)
    problems.push(`the old model never frees FS DAX pages, daxmon saw ${JSON.stringify(freeOrders)}`);
  return { mapped: mappedOrder.size, settled, unseenRelease, orders, freeOrders, problems };
}

/** The workload's events of each scenario (by phase base), in stream order. */
export function eventsByScenario(
  events: Iterable<DaxEvent>,
  marks: readonly PhaseMark[],
): Map<number, DaxEvent[]> {
  const out = new Map<number, DaxEvent[]>();
  for (const e of events) {
    if (!isWorkloadEvent(e)) continue;
    const base = scenarioAt(marks, e.t);
    const list = out.get(base) ?? [];
    list.push(e);
    out.set(base, list);
  }
  return out;
}
