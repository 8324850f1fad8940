/**
 * Assemble the bpftrace script for one host from the snippets whose hooks exist there.
 *
 * bpftrace 0.17 rejects the whole program when one attach point is missing ("Error attaching
 * probe"), so selection happens here, from `KernelFacts`: for each logical probe and each of its
 * parts, the best-ranked snippet of this refcount model whose hooks can attach wins; a probe with
 * no such snippet is reported unavailable with every candidate's reason. Pure: no I/O.
 */
import type { KernelFacts } from '../../kernel/facts.js';
import type { RefcountModel } from '../../events/types.js';
import { BpftraceError } from './errors.js';
import { LINE_FORMAT_VERSION } from './format.js';
import type { Hook, Snippet, SnippetLibrary } from './snippet.js';
import { BPFTRACE_PROBE_NAMES } from '../catalogue.js';

/** bpftrace -e takes the script as one argv string; Linux caps one at 128 KiB (MAX_ARG_STRLEN). */
export const MAX_SCRIPT_BYTES = 120 * 1024;

export interface IncludedProbe {
  probe: string;
  files: string[];
  hooks: Hook[];
  /** For probe_status: the hooks, plus parts that could not be included and why. */
  detail: string;
}

export interface UnavailableProbe {
  probe: string;
  reason: string;
}

export interface PageFlagLayout {
  /** ZONES_PGSHIFT: where the zone number sits in page->flags. */
  zonesPgshift: number;
  zonesMask: number;
  /** The value of ZONE_DEVICE in enum zone_type on this kernel. */
  zoneDevice: number;
  /** Offset of the folio order byte from the head page (first tail's _flags_1 or 6.1's _folio_order). */
  orderOffset: number;
}

export interface AssembledScript {
  script: string;
  model: RefcountModel;
  included: IncludedProbe[];
  unavailable: UnavailableProbe[];
  /**
   * Probes this refcount model does not have (a stub snippet for the model says why): not
   * "unavailable", since nothing is missing; not in daxmon_probe_attached, never --strict's concern.
   */
  notApplicable: UnavailableProbe[];
  layout: PageFlagLayout;
  /** Facts the layout or selection had to assume (no kernel config, ...). */
  warnings: string[];
}

export interface AssembleOptions {
  /** Probes to leave out with a reason (attach failures seen by an earlier run of bpftrace). */
  exclude?: ReadonlyMap<string, string>;
}

function releaseAtLeast(release: string, major: number, minor: number): boolean | null {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return null;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return a > major || (a === major && b >= minor);
}

/**
 * page->flags layout (include/linux/page-flags-layout.h, include/linux/mmzone.h). On x86-64
 * SPARSEMEM_VMEMMAP has no section field, so the zone sits right under the node field:
 * ZONES_PGSHIFT = 64 - NODES_WIDTH - ZONES_WIDTH. enum zone_type counts the configured zones
 * in order DMA, DMA32, NORMAL, HIGHMEM, MOVABLE, DEVICE; ZONES_SHIFT is 0..3 for 1..8 zones.
 * Debian 6.1/6.12/7.3 and the dev host: NODES_SHIFT=10, ZONE_DEVICE=4 of 5 → shift 51, mask 7.
 */
export function pageFlagLayout(facts: KernelFacts, warnings: string[]): PageFlagLayout {
  const cfg = facts.config;
  if (cfg === null)
    warnings.push('no kernel config: assuming NODES_SHIFT=10 and zones DMA, DMA32, NORMAL, MOVABLE, DEVICE');
  const on = (k: string, dflt: boolean): boolean => (cfg === null ? dflt : cfg.get(k) === 'y');
  const nodesShift = cfg === null ? 10 : on('NUMA', true) ? Number(cfg.get('NODES_SHIFT') ?? '0') : 0;
  let zones = 0;
  if (on('ZONE_DMA', true)) zones++;
  if (on('ZONE_DMA32', true)) zones++;
  zones++; // ZONE_NORMAL
  if (on('HIGHMEM', false)) zones++;
  zones++; // ZONE_MOVABLE
  const zoneDevice = zones;
  const maxNrZones = zones + 1;
  const zonesShift = maxNrZones <= 1 ? 0 : maxNrZones <= 2 ? 1 : maxNrZones <= 4 ? 2 : 3;
  const newFolioLayout = releaseAtLeast(facts.release, 6, 6);
  if (newFolioLayout === null)
    warnings.push(`cannot parse release "${facts.release}": assuming folio order in _flags_1`);
  return {
    zonesPgshift: 64 - nodesShift - zonesShift,
    zonesMask: (1 << zonesShift) - 1,
    zoneDevice,
    // "mm: free up a word in the first tail page" (6.6) moved the order into _flags_1's low byte.
    orderOffset: newFolioLayout === false ? 81 : 64,
  };
}

/** Why this hook cannot attach here, or null when it can (or cannot be known not to). */
export function hookUnavailable(facts: KernelFacts, hook: Hook): string | null {
  const pt = facts.progTypes;
  switch (hook.kind) {
    case 'tracepoint':
      if (pt.tracepoint.loads === false)
        return `tracepoint programs refused on this host (${pt.tracepoint.detail})`;
      if (facts.tracefs.path === null) return `tracefs is not mounted: cannot find ${hook.target}`;
      if (!facts.tracefs.events.has(hook.target)) return `tracefs has no event ${hook.target}`;
      return null;
    case 'rawtracepoint':
      if (pt.raw_tp.loads === false)
        return `raw tracepoint programs refused on this host (${pt.raw_tp.detail})`;
      return null;
    case 'kfunc':
    case 'kretfunc':
      if (pt.fentry.loads === false)
        return `${hook.kind} (fentry/fexit) refused on this host (${pt.fentry.detail})`;
      if (!facts.btf.vmlinux) return `${hook.kind} needs kernel BTF (${facts.btf.path} missing)`;
      break;
    case 'kprobe':
    case 'kretprobe':
      if (pt.kprobe.loads === false) return `kprobes refused on this host (${pt.kprobe.detail})`;
      break;
  }
  return null;
}

function symbolUnavailable(facts: KernelFacts, snippet: Snippet): string | null {
  if (!facts.kallsyms.readable) return '/proc/kallsyms is unreadable: cannot check hook symbols';
  const missing = snippet.requires.filter((f) => !facts.kallsyms.functions.has(f));
  if (missing.length === 0) return null;
  const mods = snippet.hooks
    .filter((h) => h.module !== null && missing.includes(h.target))
    .map((h) => h.module);
  const hint =
    mods.length > 0
      ? ` (module ${[...new Set(mods)].join(', ')} not loaded, or the function is inlined)`
      : '';
  return `not in /proc/kallsyms: ${missing.join(', ')}${hint}`;
}

const LIB_HEADER = /^(\/\/[^\n]*\n)+/;

/** Expand `//@include NAME` lines from the lib, model-specific file first. */
export function expandIncludes(
  body: string,
  lib: SnippetLibrary['lib'],
  model: RefcountModel,
  file: string,
  depth = 0,
): string {
  if (depth > 4)
    throw new BpftraceError('DAXMON_E_BPFTRACE_SNIPPET_INVALID', `${file}: includes nested too deep`);
  return body.replace(/^([ \t]*)\/\/@include\s+([a-z0-9_]+)\s*$/gm, (_m, indent: string, name: string) => {
    const text = lib.get(`${name}.${model}.bt`) ?? lib.get(`${name}.bt`);
    if (text === undefined) {
      throw new BpftraceError(
        'DAXMON_E_BPFTRACE_SNIPPET_INVALID',
        `${file}: no lib/${name}.${model}.bt or lib/${name}.bt`,
      );
    }
    const inner = expandIncludes(text.replace(LIB_HEADER, '').trim(), lib, model, `lib/${name}`, depth + 1);
    return inner
      .split('\n')
      .map((l) => (l.length > 0 ? indent + l : l))
      .join('\n');
  });
}

interface Choice {
  snippet: Snippet | null;
  reasons: string[];
}

function choosePart(
  facts: KernelFacts,
  candidates: Snippet[],
  needsVmemmap: (s: Snippet) => boolean,
): Choice {
  const reasons: string[] = [];
  const sorted = [...candidates].sort((a, b) => a.rank - b.rank || a.file.localeCompare(b.file));
  for (const s of sorted) {
    const hookReason = s.hooks.map((h) => hookUnavailable(facts, h)).find((r) => r !== null);
    const why =
      hookReason ??
      symbolUnavailable(facts, s) ??
      (needsVmemmap(s) && facts.config?.get('KALLSYMS_ALL') === 'n'
        ? 'vmemmap_base is not in /proc/kallsyms (CONFIG_KALLSYMS_ALL=n): a struct page cannot be turned into its pfn'
        : null);
    if (why === null) return { snippet: s, reasons };
    reasons.push(`${s.file}: ${why}`);
  }
  return { snippet: null, reasons };
}

/** Pure: choose snippets for this host and build the script. */
export function assembleScript(
  facts: KernelFacts,
  lib: SnippetLibrary,
  opts: AssembleOptions = {},
): AssembledScript {
  const model = facts.model.model;
  const warnings: string[] = [];
  const layout = pageFlagLayout(facts, warnings);
  const expanded = new Map<Snippet, string>();
  const bodyOf = (s: Snippet): string => {
    let b = expanded.get(s);
    if (b === undefined) {
      b = expandIncludes(s.body, lib.lib, model, s.file);
      expanded.set(s, b);
    }
    return b;
  };
  const needsVmemmap = (s: Snippet): boolean => bodyOf(s).includes('kaddr("vmemmap_base")');
  if (facts.config === null) warnings.push('no kernel config: assuming vmemmap_base is in /proc/kallsyms');

  // The catalogue's bpftrace probes in its order, then any other probe a snippet names (a test
  // keeps bpf/bpftrace/ and the catalogue in step; a foreign library still assembles).
  const names = [...BPFTRACE_PROBE_NAMES, ...new Set(lib.snippets.map((s) => s.probe))].filter(
    (n, i, all) => all.indexOf(n) === i,
  );
  const included: IncludedProbe[] = [];
  const unavailable: UnavailableProbe[] = [];
  const notApplicable: UnavailableProbe[] = [];
  const chosen: Snippet[] = [];
  for (const probe of names) {
    const excluded = opts.exclude?.get(probe);
    if (excluded !== undefined) {
      unavailable.push({ probe, reason: excluded });
      continue;
    }
    const cands = lib.snippets.filter((s) => s.probe === probe && (s.model === 'any' || s.model === model));
    const real = cands.filter((s) => s.unavailable === null);
    if (real.length === 0) {
      const stub = cands.find((s) => s.unavailable !== null);
      if (stub && stub.model === model) {
        notApplicable.push({ probe, reason: stub.unavailable! });
        continue;
      }
      unavailable.push({
        probe,
        reason: stub?.unavailable ?? `no bpftrace snippet for the ${model} refcount model`,
      });
      continue;
    }
    const parts = [...new Set(real.map((s) => s.part))].sort();
    const picked: Snippet[] = [];
    const partProblems: string[] = [];
    for (const part of parts) {
      const c = choosePart(
        facts,
        real.filter((s) => s.part === part),
        needsVmemmap,
      );
      if (c.snippet) picked.push(c.snippet);
      else partProblems.push(...c.reasons);
    }
    if (picked.length === 0) {
      unavailable.push({ probe, reason: partProblems.join('; ') });
      continue;
    }
    const hooks = picked.flatMap((s) => s.hooks);
    const detail =
      hooks.map((h) => h.spec).join(' ') +
      (partProblems.length > 0 ? ` (not attached: ${partProblems.join('; ')})` : '');
    included.push({ probe, files: picked.map((s) => s.file), hooks, detail });
    chosen.push(...picked);
  }

  const out: string[] = [
    `// daxmon bpftrace script, line format ${LINE_FORMAT_VERSION}, ${model} refcount model, kernel ${facts.release}`,
    `#define DXM_ZONES_PGSHIFT ${layout.zonesPgshift}`,
    `#define DXM_ZONES_MASK ${layout.zonesMask}`,
    `#define DXM_ZONE_DEVICE ${layout.zoneDevice}`,
    `#define DXM_ORDER_OFF ${layout.orderOffset}`,
    // BEGIN runs once every probe is attached: its V line tells the decoder the attach succeeded.
    `BEGIN { printf("V\\t${LINE_FORMAT_VERSION}\\t%lu\\t${model}\\n", nsecs); }`,
  ];
  const maps = new Set<string>();
  for (const s of chosen) {
    const body = bodyOf(s);
    for (const m of body.matchAll(/@([A-Za-z_][A-Za-z0-9_]*)/g)) maps.add(m[1] as string);
    out.push(`// ---- ${s.file}`, body);
  }
  // bpftrace prints every non-empty map at exit; the daemon wants only event lines.
  if (maps.size > 0) out.push(`END { ${[...maps].map((m) => `clear(@${m});`).join(' ')} }`);
  const script = out.join('\n') + '\n';
  if (Buffer.byteLength(script) > MAX_SCRIPT_BYTES) {
    throw new BpftraceError(
      'DAXMON_E_BPFTRACE_SCRIPT_TOO_LARGE',
      `assembled script is ${Buffer.byteLength(script)} bytes, more than bpftrace -e can take (${MAX_SCRIPT_BYTES})`,
    );
  }
  return { script, model, included, unavailable, notApplicable, layout, warnings };
}
