/**
 * `daxmon doctor [--json] [--model old|new]`: what this host offers daxmon, read the same way
 * `daxmon run` reads it (gatherKernelFacts), so what doctor says is what run will do.
 *
 * Exit status, for scripts (docs/doctor.md): 0 ready (nothing listed: every program type loads,
 * pmem present, every reader read), 1 degraded (daxmon runs, with what the report lists),
 * 2 usage error or doctor itself failed, 3 no BPF program type loads here (no probe can attach).
 */
import type { RefcountModel } from '../events/types.js';
import { configEnabled } from '../kernel/config.js';
import { kconfigGaps } from '../kernel/kconfig-fragment.js';
import type { KconfigOption, KconfigScope } from '../kernel/kconfig-options.js';
import { kconfigOptions } from '../kernel/kconfig-options.js';
import { reason } from '../kernel/errors.js';
import type { KernelFacts, ProgType, ProgTypeResult } from '../kernel/facts.js';
import { PROG_TYPES } from '../kernel/facts.js';
import { gatherKernelFacts } from '../kernel/gather.js';
import type { GatherOptions } from '../kernel/gather.js';
import { findFunction } from '../kernel/kallsyms.js';
import { hasPmem } from '../kernel/pmem.js';
import { TRACEFS_MOUNT_COMMAND } from '../kernel/progtypes.js';
import type { PmemInventory } from '../kernel/pmem.js';
import type { ToolName, ToolVersion } from '../kernel/tools.js';
import { TOOLS } from '../kernel/tools.js';
import { hookedFunctions } from '../probes/catalogue.js';

const DOCTOR_SCOPES: readonly KconfigScope[] = ['daxmon', 'pmem'];

export interface DoctorOptions {
  json: boolean;
  model?: RefcountModel;
  out: NodeJS.WritableStream;
  /** Where an internal failure is reported (default process.stderr). */
  err?: NodeJS.WritableStream;
  /** Fixture roots, injected runner, … (tests). `model` above wins over `gather.model`. */
  gather?: GatherOptions;
}

/**
 * Config options doctor shows, with why daxmon cares: the monitor's and pmem's options of the one
 * catalogue (src/kernel/kconfig-options.ts; the lab's own options matter only to a kernel booted
 * in the lab). `daxmon kconfig` prints them as a fragment to merge.
 */
export const DOCTOR_CONFIG_OPTIONS: readonly KconfigOption[] = kconfigOptions({ scopes: DOCTOR_SCOPES });

/**
 * Functions doctor checks by model: every kernel function a probe of that model hooks in either
 * backend (src/probes/catalogue.ts), to show what the hooks will find. An entry with several
 * names lists the same hook across releases (6.1 `…_page_refs`, 6.12 `…_folio_refs`); the first
 * one present is shown.
 */
export const DOCTOR_KEY_FUNCTIONS: Readonly<Record<RefcountModel, readonly (readonly string[])[]>> = {
  new: hookedFunctions('new'),
  old: hookedFunctions('old'),
};

export interface DoctorReport {
  release: string;
  model: KernelFacts['model'];
  btf: KernelFacts['btf'];
  kallsyms: {
    readable: boolean;
    functionCount: number;
    addressesHidden: boolean | null;
    modules: string[];
    /** Key functions for the model in force: exact name, clones (kprobe only), or absent. */
    keyFunctions: {
      name: string;
      alternatives: string[];
      exact: boolean;
      clones: string[];
      fragments: string[];
    }[];
    reason?: string;
  };
  tracefs: {
    path: string | null;
    eventCount: number;
    fsDax: string[];
    pageRef: string[];
    reason?: string;
  };
  progTypes: Record<ProgType, ProgTypeResult>;
  config: {
    source: string | null;
    options: Record<string, string | null>;
    /** Options the config lacks, with why and what turning them on costs (empty when unread). */
    missing: { key: string; need: KconfigOption['need']; found: string | null; why: string; cost: string }[];
  };
  pmem: PmemInventory | null;
  tools: Record<ToolName, ToolVersion | null> | null;
  /** What daxmon can do here, in one line. */
  summary: string;
  problems: string[];
  /** The verdict scripts get as the exit status, and why it is not `ready`. */
  status: DoctorStatus;
}

export const DOCTOR_EXIT = { ready: 0, degraded: 1, failed: 2, unprobed: 3 } as const;

export interface DoctorStatus {
  verdict: 'ready' | 'degraded' | 'unprobed';
  exitCode: (typeof DOCTOR_EXIT)['ready' | 'degraded' | 'unprobed'];
  /** Short reasons, each a thing the report shows in full (empty when ready). */
  reasons: string[];
}

/**
 * Pure: ready only when doctor found nothing to report; unprobed when every program type was
 * tried and refused (daxmon can attach no probe: only replay works here).
 */
export function doctorStatus(facts: KernelFacts): DoctorStatus {
  const refused = PROG_TYPES.filter((t) => facts.progTypes[t].loads === false);
  const untested = PROG_TYPES.filter((t) => facts.progTypes[t].loads === null);
  const reasons: string[] = [];
  const n = facts.problems?.length ?? 0;
  if (n > 0) reasons.push(`${n} problem${n === 1 ? '' : 's'} listed`);
  if (refused.length) reasons.push(`${refused.join(', ')} refused`);
  if (untested.length) reasons.push(`${untested.join(', ')} untested`);
  if (facts.pmem && !hasPmem(facts.pmem)) reasons.push('no pmem');
  const lacking = facts.config
    ? kconfigGaps(facts.config, { scopes: DOCTOR_SCOPES, needs: ['required'] }).map((g) => g.option.key)
    : [];
  if (lacking.length) reasons.push(`config lacks ${lacking.join(', ')} (required)`);
  if (refused.length === PROG_TYPES.length)
    return { verdict: 'unprobed', exitCode: DOCTOR_EXIT.unprobed, reasons };
  if (reasons.length > 0) return { verdict: 'degraded', exitCode: DOCTOR_EXIT.degraded, reasons };
  return { verdict: 'ready', exitCode: DOCTOR_EXIT.ready, reasons };
}

function eventsIn(events: ReadonlySet<string>, category: string): string[] {
  const prefix = `${category}:`;
  return [...events].filter((e) => e.startsWith(prefix)).sort();
}

function libbpfSummary(pt: Record<ProgType, ProgTypeResult>): string {
  if (PROG_TYPES.every((t) => pt[t].loads === null)) {
    return `libbpf backend: program types untested (${pt.tracepoint.detail})`;
  }
  const loads = PROG_TYPES.filter((t) => pt[t].loads === true);
  const refused = PROG_TYPES.filter((t) => pt[t].loads === false);
  const untested = PROG_TYPES.filter((t) => pt[t].loads === null);
  const tail = untested.length > 0 ? `; ${untested.join(', ')} untested` : '';
  if (loads.length === PROG_TYPES.length)
    return 'libbpf backend: every program type loads (fentry/fexit, kprobe, tracepoints)';
  if (loads.includes('fentry') || loads.includes('kprobe')) {
    return `libbpf backend: function probes (${loads.join(', ')})${refused.length ? `; ${refused.join(', ')} refused` : ''}${tail}`;
  }
  if (loads.length > 0) {
    // Name what loads: "tracepoint probes only" beside "tracepoint refused" read as a contradiction.
    return `libbpf backend: tracepoint probes only, as ${loads.join(', ')} (${refused.join(', ') || 'function probes'} refused)${tail}`;
  }
  return `libbpf backend: no BPF program type loads here${tail}`;
}

function summaryOf(facts: KernelFacts): string {
  const parts: string[] = [`refcount model ${facts.model.model} (${facts.model.source})`];
  parts.push(libbpfSummary(facts.progTypes));
  if (facts.tools && facts.tools.bpftrace === null) {
    parts.push('bpftrace backend: bpftrace not installed');
  } else if (
    facts.tools &&
    facts.progTypes.kprobe.loads === false &&
    facts.progTypes.fentry.loads === false
  ) {
    // bpftrace's kprobe: and kfunc: need exactly the two types refused here; its tracepoint:
    // probes read their format and id from tracefs.
    parts.push(
      `bpftrace backend: tracepoints only${facts.tracefs.path === null ? ', once tracefs is mounted' : ''}`,
    );
  }
  if (facts.tracefs.path === null) {
    parts.push(`tracefs not mounted: \`tracepoint\` programs need it (\`${TRACEFS_MOUNT_COMMAND}\`)`);
  }
  if (facts.pmem && !hasPmem(facts.pmem)) parts.push('no pmem: run `daxmon lab` for a DAX VM');
  else if (facts.pmem) {
    const fsdax = facts.pmem.namespaces.filter((n) => n.mode === 'fsdax').length;
    const devdax = facts.pmem.daxDevices.length;
    parts.push(`pmem: ${fsdax} fsdax namespace(s), ${devdax} device-dax`);
  }
  return parts.join('; ');
}

/** Pure: the report from facts. */
export function buildDoctorReport(facts: KernelFacts): DoctorReport {
  const options: Record<string, string | null> = {};
  for (const o of DOCTOR_CONFIG_OPTIONS) options[o.key] = facts.config?.get(o.key) ?? null;
  const missing = facts.config
    ? kconfigGaps(facts.config, { scopes: DOCTOR_SCOPES }).map((g) => ({
        key: g.option.key,
        need: g.option.need,
        found: g.found,
        why: g.option.why,
        cost: g.option.cost,
      }))
    : [];
  const keyFunctions = DOCTOR_KEY_FUNCTIONS[facts.model.model].map((names) => {
    const found = names.map((name) => ({ name, ...findFunction(facts.kallsyms.functions, name) }));
    const best =
      found.find((f) => f.exact) ??
      found.find((f) => f.clones.length > 0) ??
      found.find((f) => f.fragments.length > 0);
    const f = best ?? (found[0] as (typeof found)[number]);
    return {
      name: f.name,
      alternatives: [...names],
      exact: f.exact,
      clones: f.clones,
      fragments: f.fragments,
    };
  });
  return {
    release: facts.release,
    model: facts.model,
    btf: facts.btf,
    kallsyms: {
      readable: facts.kallsyms.readable,
      functionCount: facts.kallsyms.functions.size,
      addressesHidden: facts.kallsyms.addressesHidden ?? null,
      modules: [...(facts.kallsyms.modules ?? [])].sort(),
      keyFunctions: facts.kallsyms.readable ? keyFunctions : [],
      ...(facts.kallsyms.reason !== undefined ? { reason: facts.kallsyms.reason } : {}),
    },
    tracefs: {
      path: facts.tracefs.path,
      eventCount: facts.tracefs.events.size,
      fsDax: eventsIn(facts.tracefs.events, 'fs_dax'),
      pageRef: eventsIn(facts.tracefs.events, 'page_ref'),
      ...(facts.tracefs.reason !== undefined ? { reason: facts.tracefs.reason } : {}),
    },
    progTypes: facts.progTypes,
    config: { source: facts.configSource ?? null, options, missing },
    pmem: facts.pmem ?? null,
    tools: facts.tools ?? null,
    summary: summaryOf(facts),
    problems: facts.problems ?? [],
    status: doctorStatus(facts),
  };
}

// ---- human rendering ---------------------------------------------------------------------------

const YES = '✔';
const NO = '✘';
const UNKNOWN = '?';

function mark(v: boolean | null | undefined): string {
  return v === true ? YES : v === false ? NO : UNKNOWN;
}

function bytes(n: number | null): string {
  if (n === null) return '?';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}

/** Pure: the human-readable report. */
export function renderDoctorText(r: DoctorReport): string {
  const L: string[] = [];
  const modelMeaning =
    r.model.model === 'new' ? 'FS DAX folios idle at refcount 0' : 'FS DAX pages idle at refcount 1';
  L.push(`daxmon doctor: kernel ${r.release}`);
  L.push('');
  L.push('Refcount model');
  L.push(`  ${YES} ${r.model.model} (${modelMeaning}), decided by ${r.model.source}`);
  for (const e of r.model.evidence) L.push(`      ${e}`);
  L.push('');

  L.push('Kernel');
  if (r.btf.vmlinux && r.btf.types) {
    L.push(`  ${YES} BTF ${r.btf.path} (${r.btf.types.typeCount} types)`);
  } else {
    L.push(`  ${NO} BTF ${r.btf.path}${r.btf.reason ? `: ${r.btf.reason}` : ''}`);
  }
  if (r.kallsyms.readable) {
    L.push(
      `  ${YES} kallsyms: ${r.kallsyms.functionCount} functions` +
        (r.kallsyms.modules.length
          ? ` (modules: ${r.kallsyms.modules.join(', ')})`
          : ' (no modules loaded)') +
        (r.kallsyms.addressesHidden ? ', addresses hidden' : ''),
    );
  } else {
    L.push(`  ${NO} kallsyms: ${r.kallsyms.reason ?? 'unreadable'}`);
  }
  if (r.tracefs.path !== null && r.tracefs.reason !== undefined) {
    L.push(`  ${UNKNOWN} tracefs ${r.tracefs.path}: ${r.tracefs.reason}`);
  } else if (r.tracefs.path !== null) {
    L.push(`  ${YES} tracefs ${r.tracefs.path}: ${r.tracefs.eventCount} events`);
    L.push(
      `      ${mark(r.tracefs.fsDax.length > 0)} fs_dax: ${r.tracefs.fsDax.length ? r.tracefs.fsDax.map((e) => e.slice(7)).join(', ') : 'none (CONFIG_FS_DAX=n?)'}`,
    );
    L.push(
      `      ${mark(r.tracefs.pageRef.length > 0)} page_ref: ${r.tracefs.pageRef.length ? `${r.tracefs.pageRef.length} events` : 'none (CONFIG_DEBUG_PAGE_REF=n: refcount changes are not traced one by one)'}`,
    );
  } else {
    L.push(`  ${NO} tracefs: ${r.tracefs.reason ?? 'not found'}`);
  }
  L.push(`  config: ${r.config.source ?? `${UNKNOWN} not readable`}`);
  if (r.config.source !== null) {
    for (const o of DOCTOR_CONFIG_OPTIONS) {
      const v = r.config.options[o.key] ?? null;
      const on = configEnabled(new Map(v === null ? [] : [[o.key, v]]), o.key);
      const need = o.need === 'required' ? 'required' : '';
      L.push(
        `      ${mark(on)} ${o.key.padEnd(24)} ${(v ?? 'not in config').padEnd(14)} ${need.padEnd(9)}${o.why}`,
      );
    }
    const req = r.config.missing.filter((m) => m.need === 'required');
    const rec = r.config.missing.filter((m) => m.need === 'recommended');
    if (req.length) L.push(`      missing, required: ${req.map((m) => m.key).join(', ')}`);
    if (rec.length) {
      L.push('      missing, recommended (what turning each on costs):');
      for (const m of rec) L.push(`        ${m.key}: ${m.cost}`);
    }
    if (r.config.missing.length)
      L.push('      `daxmon kconfig` prints the fragment to merge into a kernel you build');
  }
  L.push('');

  L.push('BPF program types (loaded for real by daxmon-bpfcheck)');
  for (const t of PROG_TYPES) {
    const p = r.progTypes[t];
    const word = p.loads === true ? 'loads' : p.loads === false ? 'refused' : 'untested';
    L.push(`  ${mark(p.loads)} ${t.padEnd(11)} ${word}${p.detail ? `: ${p.detail}` : ''}`);
  }
  L.push('');

  if (r.kallsyms.keyFunctions.length > 0) {
    L.push(`Key kernel functions for the ${r.model.model} model (kallsyms)`);
    for (const f of r.kallsyms.keyFunctions) {
      const m = f.exact ? YES : f.clones.length ? UNKNOWN : NO;
      const how = f.exact
        ? ''
        : f.clones.length
          ? `only as ${f.clones.join(', ')} (kprobe only)`
          : f.fragments.length
            ? `absent; only fragments ${f.fragments.join(', ')} (not the function's entry)`
            : 'absent';
      L.push(
        `  ${m} ${f.exact || f.clones.length || f.fragments.length ? f.name : f.alternatives.join(' / ')}${how ? `  ${how}` : ''}`,
      );
    }
    L.push('');
  }

  L.push('Tools');
  if (r.tools === null) {
    L.push(`  ${UNKNOWN} not checked`);
  } else {
    for (const t of TOOLS) {
      const v = r.tools[t];
      if (v === null) L.push(`  ${NO} ${t.padEnd(9)} not found`);
      else if (v.version === null)
        L.push(`  ${UNKNOWN} ${t.padEnd(9)} version unknown: ${v.problem ?? v.source}`);
      else L.push(`  ${YES} ${t.padEnd(9)} ${v.version}  (${v.source})`);
    }
  }
  L.push('');

  L.push('Persistent memory');
  const pm = r.pmem;
  if (pm === null) {
    L.push(`  ${UNKNOWN} not checked`);
  } else {
    L.push(`  ${mark(pm.ndBus)} nd bus (/sys/bus/nd)   ${mark(pm.daxBus)} dax bus (/sys/bus/dax)`);
    if (pm.regions.length === 0 && pm.namespaces.length === 0 && pm.daxDevices.length === 0) {
      L.push(`  ${NO} no nd regions, namespaces or device-dax devices`);
    }
    for (const g of pm.regions) {
      L.push(`  ${YES} ${g.name}: ${bytes(g.size)}${g.resource ? ` at ${g.resource}` : ''}`);
    }
    for (const ns of pm.namespaces) {
      const devs = [...ns.blockDevices.map((b) => `/dev/${b}`), ...ns.daxDevices.map((d) => `/dev/${d}`)];
      L.push(
        `  ${YES} ${ns.name}${ns.region ? ` (${ns.region})` : ''}: mode ${ns.mode}` +
          `${ns.sysfsMode && ns.sysfsMode !== ns.mode ? ` [sysfs "${ns.sysfsMode}"]` : ''}, ${bytes(ns.size)}` +
          `${ns.resource ? ` at ${ns.resource}` : ''}${ns.holder ? `, claimed by ${ns.holder}` : ''}` +
          `${ns.memmap ? `, memmap in ${ns.memmap === 'dev' ? 'pmem' : 'RAM'}` : ''}` +
          `, ${ns.structPages ? 'ZONE_DEVICE pages' : 'no struct pages'}${devs.length ? `, ${devs.join(' ')}` : ''}`,
      );
    }
    for (const d of pm.daxDevices) {
      L.push(
        `  ${YES} ${d.name}: ${bytes(d.size)}, align ${bytes(d.align)}, driver ${d.driver ?? 'none'}` +
          `${d.resource ? ` at ${d.resource}` : ''}`,
      );
    }
    L.push(
      `  ${mark(pm.devNodes.length > 0)} device nodes: ${pm.devNodes.length ? pm.devNodes.join(' ') : 'no /dev/pmem* or /dev/dax*'}`,
    );
    if (pm.classDax.length) L.push(`  ${YES} /sys/class/dax: ${pm.classDax.join(' ')}`);
    if (!pm.iomem.readable) {
      L.push(`  ${UNKNOWN} /proc/iomem unreadable`);
    } else if (pm.iomem.entries.length === 0) {
      L.push(`  ${NO} /proc/iomem: no Persistent Memory ranges`);
    } else {
      for (const e of pm.iomem.entries) {
        const range = pm.iomem.addressesHidden ? '(addresses hidden: not root)' : `${e.start}-${e.end}`;
        L.push(
          `  ${YES} /proc/iomem: ${e.name} ${range}${e.children.length ? ` → ${e.children.join(', ')}` : ''}`,
        );
      }
    }
    if (pm.unreadable.length) L.push(`  ${UNKNOWN} unreadable (run as root): ${pm.unreadable.join(', ')}`);
  }
  L.push('');

  if (r.problems.length) {
    L.push('Problems');
    for (const p of r.problems) L.push(`  - ${p}`);
    L.push('');
  }
  L.push(`Summary: ${r.summary}`);
  const why = r.status.reasons.length ? `: ${r.status.reasons.join('; ')}` : '';
  L.push(`Status: ${r.status.verdict} (exit ${r.status.exitCode})${why}`);
  return `${L.join('\n')}\n`;
}

function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(text, (err) => (err ? reject(err) : resolve()));
  });
}

/** Gather, print, return the exit status (DOCTOR_EXIT: the report's verdict, or 2 if doctor failed). */
export async function runDoctor(opts: DoctorOptions): Promise<number> {
  try {
    const facts = await gatherKernelFacts({ ...opts.gather, ...(opts.model ? { model: opts.model } : {}) });
    const report = buildDoctorReport(facts);
    await write(opts.out, opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderDoctorText(report));
    return report.status.exitCode;
  } catch (err) {
    const msg = reason(
      'DAXMON_E_DOCTOR_INTERNAL',
      `daxmon doctor failed: ${err instanceof Error ? err.message : String(err)}. This is a bug; please report it with the output of \`uname -a\`.`,
    );
    try {
      await write(opts.err ?? process.stderr, `${msg}\n`);
    } catch {
      // Nowhere left to report to.
    }
    return DOCTOR_EXIT.failed;
  }
}
