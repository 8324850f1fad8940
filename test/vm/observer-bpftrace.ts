import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Observer, PhaseCounts } from './observer.js';
import { DUMP_PRCTL, PHASE_PRCTL } from './observer.js';

interface ProbeSpec {
  counter: string;
  kind: 'kprobe' | 'kretprobe' | 'tracepoint';
  /** Candidates in order; the first that exists on the running kernel is used. */
  targets: string[];
  filter?: string;
  /**
   * Count in any task. Most counters are limited to the workload (`comm == "daxwl"`): vvar faults of
   * every new process call vmf_insert_pfn, and other drivers use the mixed inserts. The pgmap release
   * runs from an RCU callback in whatever task is current, and a WARN can come from a kworker.
   */
  anyTask?: boolean;
}

// VM_FAULT_FALLBACK (include/linux/mm_types.h, 0x800 from 6.1 to 7.x): the PMD fault gave up and the
// access is retried with 4 KiB faults.
const VM_FAULT_FALLBACK = 0x800;

/** What the bpftrace observer counts; docs/kernel-model.md §8 maps each to the kernel's words. */
export const BPFTRACE_PROBES: readonly ProbeSpec[] = [
  { counter: 'pte_fault', kind: 'tracepoint', targets: ['fs_dax:dax_pte_fault_done'] },
  {
    counter: 'pmd_fault',
    kind: 'tracepoint',
    targets: ['fs_dax:dax_pmd_fault_done'],
    filter: `(args->result & ${VM_FAULT_FALLBACK}) == 0`,
  },
  {
    counter: 'pmd_fallback',
    kind: 'tracepoint',
    targets: ['fs_dax:dax_pmd_fault_done'],
    filter: `(args->result & ${VM_FAULT_FALLBACK}) != 0`,
  },
  { counter: 'load_hole', kind: 'tracepoint', targets: ['fs_dax:dax_load_hole'] },
  { counter: 'pmd_load_hole', kind: 'tracepoint', targets: ['fs_dax:dax_pmd_load_hole'] },
  { counter: 'writeback_one', kind: 'tracepoint', targets: ['fs_dax:dax_writeback_one'] },
  { counter: 'insert_page_mkwrite', kind: 'kprobe', targets: ['vmf_insert_page_mkwrite'] },
  { counter: 'insert_folio_pmd', kind: 'kprobe', targets: ['vmf_insert_folio_pmd'] },
  { counter: 'insert_mixed_mkwrite', kind: 'kprobe', targets: ['vmf_insert_mixed_mkwrite'] },
  { counter: 'insert_mixed', kind: 'kprobe', targets: ['vmf_insert_mixed'] },
  { counter: 'insert_pfn_pmd', kind: 'kprobe', targets: ['vmf_insert_pfn_pmd', 'vmf_insert_pfn_pmd_prot'] },
  { counter: 'insert_pfn', kind: 'kprobe', targets: ['vmf_insert_pfn'] },
  {
    counter: 'free_zone_device',
    kind: 'kprobe',
    targets: ['free_zone_device_folio', 'free_zone_device_page'],
  },
  {
    counter: 'put_devmap_managed',
    kind: 'kprobe',
    targets: ['__put_devmap_managed_folio_refs', '__put_devmap_managed_page_refs'],
  },
  { counter: 'busy_scan', kind: 'kprobe', targets: ['dax_layout_busy_page_range'] },
  {
    counter: 'busy_found',
    kind: 'kretprobe',
    targets: ['dax_layout_busy_page_range'],
    filter: 'retval != 0',
  },
  { counter: 'break_layout', kind: 'kprobe', targets: ['dax_break_layout'] },
  { counter: 'xfs_break_layouts', kind: 'kprobe', targets: ['xfs_break_dax_layouts'] },
  { counter: 'ext4_break_layouts', kind: 'kprobe', targets: ['ext4_break_layouts'] },
  { counter: 'gup_grab', kind: 'kprobe', targets: ['try_grab_folio'] },
  { counter: 'memremap_pages', kind: 'kprobe', targets: ['memremap_pages'], anyTask: true },
  { counter: 'memunmap_pages', kind: 'kprobe', targets: ['memunmap_pages'], anyTask: true },
  { counter: 'pgmap_ref_release', kind: 'kprobe', targets: ['dev_pagemap_percpu_release'], anyTask: true },
  { counter: 'kill_dax', kind: 'kprobe', targets: ['kill_dax'], anyTask: true },
  { counter: 'kernel_warn', kind: 'kprobe', targets: ['__warn'], anyTask: true },
];

/** Counters of the ground truth this observer has no probe for (see ObserverOutput.notObserved). */
export const BPFTRACE_NOT_OBSERVED: Readonly<Record<string, string>> = {
  entry_insert: 'dax_insert_entry is static (inlined on some kernels); only daxmon observes DAX entries',
  entry_remove: 'dax_disassociate_entry is static (an .isra clone on 7.3); only daxmon observes it',
};

const ATTACHED = 'DAXMON_OBSERVER_ATTACHED';
const DUMPED = 'DAXMON_OBSERVER_DUMPED';

/**
 * Guest shell that writes the bpftrace program for the running kernel: each counter is attached to
 * the first of its candidates that /proc/kallsyms or tracefs has (names drift between 6.1, 6.12 and
 * 7.x, and static functions may be inlined away), and the choice is recorded for the report.
 */
export function renderProbeSelection(
  probes: readonly ProbeSpec[],
  scriptPath: string,
  mapPath: string,
): string {
  const lines: string[] = [
    `: > ${scriptPath}; : > ${mapPath}`,
    `obs_ksym() { grep -qE "^[0-9a-f]+ [tT] $1([[:space:]]|\\$)" /proc/kallsyms; }`,
    `obs_tp() { [ -d "/sys/kernel/tracing/events/$1" ]; }`,
    `cat >> ${scriptPath} <<'DAXMON_BT'`,
    `BEGIN { printf("${ATTACHED}\\n"); }`,
    `tracepoint:syscalls:sys_enter_prctl /args->option == ${PHASE_PRCTL}/ { @phase = args->arg2; }`,
    `tracepoint:syscalls:sys_enter_prctl /args->option == ${DUMP_PRCTL}/ { print(@c); printf("${DUMPED}\\n"); }`,
    'DAXMON_BT',
  ];
  for (const p of probes) {
    const filters = [p.anyTask ? undefined : 'comm == "daxwl"', p.filter].filter(Boolean).join(' && ');
    const pred = filters ? ` /${filters}/` : '';
    const tests = p.targets.map((t) => {
      const check = p.kind === 'tracepoint' ? `obs_tp ${t.replace(':', '/')}` : `obs_ksym ${t}`;
      const body = `${p.kind}:${t}${pred} { @c[@phase, "${p.counter}"] = count(); }`;
      return `{ ${check} && echo '${body}' >> ${scriptPath} && echo "${p.counter} ${p.kind}:${t}" >> ${mapPath}; }`;
    });
    lines.push(`${tests.join(' || ')} || echo "${p.counter} -" >> ${mapPath}`);
  }
  return lines.join('\n');
}

export interface BpftraceObserverOptions {
  /** Path of the daxwl binary, which triggers the dump. */
  daxwl: string;
  attachTimeoutSeconds?: number;
}

/** Parses bpftrace -f json output: the last `@c` map printed, keyed "phase,counter". */
export function parseBpftraceCounts(jsonLines: string): PhaseCounts {
  const counts: PhaseCounts = new Map();
  let last: Record<string, number> | undefined;
  for (const line of jsonLines.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const ev = JSON.parse(line) as { type?: string; data?: Record<string, unknown> };
      if (ev.type === 'map' && ev.data && typeof ev.data['@c'] === 'object') {
        last = ev.data['@c'] as Record<string, number>;
      }
    } catch {
      // bpftrace can interleave warnings; only whole JSON lines matter
    }
  }
  for (const [key, n] of Object.entries(last ?? {})) {
    const comma = key.indexOf(',');
    const phase = Number.parseInt(key.slice(0, comma), 10);
    const counter = key.slice(comma + 1).replace(/^"|"$/g, '');
    const c = counts.get(phase) ?? {};
    c[counter] = (c[counter] ?? 0) + n;
    counts.set(phase, c);
  }
  return counts;
}

export function bpftraceObserver(opts: BpftraceObserverOptions): Observer {
  const script = '/tmp/daxmon/observer.bt';
  const map = '$DAXMON_RESULTS/observer-probes.txt';
  return {
    name: 'bpftrace',
    startShell: () => `${renderProbeSelection(BPFTRACE_PROBES, script, map)}
cp ${script} "$DAXMON_RESULTS/observer.bt"
t_obs=$(daxmon_now_ms)
daxmon_bg_start observer bpftrace -f json ${script}
daxmon_bg_wait_for observer ${ATTACHED} ${opts.attachTimeoutSeconds ?? 180} || daxmon_fail "bpftrace did not attach: $(tail -c 600 "$DAXMON_RESULTS/observer.err")"
echo "observer attached in $(( $(daxmon_now_ms) - t_obs )) ms"
`,
    stopShell: () => `${opts.daxwl} 0 dump
daxmon_bg_wait_for observer ${DUMPED} 60 || echo "observer: no dump within 60 s"
daxmon_bg_stop observer INT 10
`,
    collect: async (resultsDir) => {
      const out = await readFile(join(resultsDir, 'observer.out'), 'utf8').catch(() => '');
      const probes = await readFile(join(resultsDir, 'observer-probes.txt'), 'utf8').catch(() => '');
      const err = await readFile(join(resultsDir, 'observer.err'), 'utf8').catch(() => '');
      const attached: Record<string, string> = {};
      const unavailable: string[] = [];
      for (const line of probes.split('\n')) {
        const [counter, target] = line.trim().split(/\s+/);
        if (!counter) continue;
        if (target && target !== '-') attached[counter] = target;
        else unavailable.push(counter);
      }
      const notes: string[] = [];
      if (!out.includes(DUMPED)) notes.push('bpftrace never printed its counts');
      if (err.trim()) notes.push(`bpftrace stderr: ${err.trim().slice(0, 500)}`);
      return {
        counts: parseBpftraceCounts(out),
        attached,
        unavailable,
        notObserved: BPFTRACE_NOT_OBSERVED,
        notes,
      };
    },
  };
}
