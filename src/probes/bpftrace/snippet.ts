/**
 * bpftrace snippets: one `.bt` file per logical probe and kernel variant in bpf/bpftrace/.
 *
 * bpftrace 0.17 refuses a whole script when one attach point does not exist, so daxmon never
 * ships one big script: it reads the header of every snippet and assembles only those whose
 * hooks exist on this host (script.ts). The header is a block of `// key: value` comment lines:
 *
 *   // probe: zone_device_free          probe name (src/probes/catalogue.ts; the `probe` label)
 *   // model: new | old | any           refcount model the body is written for
 *   // hooks: kfunc:free_zone_device_folio tracepoint:fs_dax:dax_pte_fault_done ...
 *   // requires: try_grab_page          extra kallsyms functions the snippet needs (optional)
 *   // rank: 20                         lower is preferred among variants (default 10)
 *   // part: xfs                        independent part of one probe (default "main")
 *   // unavailable: <reason>            no body: this probe has no hook in this model
 *   // kernels:, prints: ...            documentation only
 *
 * A body line `//@include NAME` is replaced by bpf/bpftrace/lib/NAME.<model>.bt (or NAME.bt).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { RefcountModel } from '../../events/types.js';
import { BpftraceError } from './errors.js';

export type SnippetModel = RefcountModel | 'any';

/** Attach-point kinds bpftrace 0.17 offers that daxmon snippets use. */
export type HookKind = 'tracepoint' | 'rawtracepoint' | 'kfunc' | 'kretfunc' | 'kprobe' | 'kretprobe';

export interface Hook {
  /** As written in the snippet: `kfunc:xfs:xfs_break_dax_layouts`. */
  spec: string;
  kind: HookKind;
  /** Kernel function for kfunc/kprobe kinds; tracepoint `category:name` otherwise. */
  target: string;
  /** Module for `kfunc:MODULE:FN` (bpftrace 0.17 needs it for module BTF), else null. */
  module: string | null;
}

export interface Snippet {
  /** File name relative to the snippet directory, e.g. `zone_device_free.61.bt`. */
  file: string;
  probe: string;
  model: SnippetModel;
  part: string;
  rank: number;
  hooks: Hook[];
  /** Functions that must be in kallsyms: the hooks' targets plus `requires:`. */
  requires: string[];
  /** Set for stub snippets that only explain why the probe has no hook in this model. */
  unavailable: string | null;
  /** The bpftrace program text with the header removed and includes not yet expanded. */
  body: string;
}

const HOOK_KINDS: readonly HookKind[] = [
  'tracepoint',
  'rawtracepoint',
  'kfunc',
  'kretfunc',
  'kprobe',
  'kretprobe',
];

function invalid(file: string, what: string): BpftraceError {
  return new BpftraceError('DAXMON_E_BPFTRACE_SNIPPET_INVALID', `${file}: ${what}`);
}

export function parseHook(spec: string, file = '<snippet>'): Hook {
  const parts = spec.split(':');
  const kind = parts[0] as HookKind;
  if (!HOOK_KINDS.includes(kind)) throw invalid(file, `unknown hook kind in "${spec}"`);
  if (kind === 'tracepoint') {
    if (parts.length !== 3 || !parts[1] || !parts[2])
      throw invalid(file, `expected tracepoint:CAT:NAME, got "${spec}"`);
    return { spec, kind, target: `${parts[1]}:${parts[2]}`, module: null };
  }
  if (parts.length === 2 && parts[1]) return { spec, kind, target: parts[1], module: null };
  if (parts.length === 3 && parts[1] && parts[2] && kind !== 'rawtracepoint') {
    return { spec, kind, target: parts[2], module: parts[1] };
  }
  throw invalid(file, `cannot parse hook "${spec}"`);
}

/** Pure: parse one snippet file's text. */
export function parseSnippet(file: string, text: string): Snippet {
  const header = new Map<string, string>();
  const lines = text.split('\n');
  let i = 0;
  for (; i < lines.length; i++) {
    const line = lines[i] as string;
    if (!line.startsWith('//')) break;
    const m = /^\/\/\s*([a-z]+):\s*(.*)$/.exec(line);
    if (m && !header.has(m[1] as string)) header.set(m[1] as string, (m[2] as string).trim());
  }
  const probe = header.get('probe');
  if (!probe || !/^[a-z0-9_]+$/.test(probe)) throw invalid(file, 'missing or malformed "// probe:" header');
  const model = header.get('model') ?? '';
  if (model !== 'old' && model !== 'new' && model !== 'any')
    throw invalid(file, '"// model:" must be old, new or any');
  const rankText = header.get('rank') ?? '10';
  const rank = Number(rankText);
  if (!Number.isInteger(rank)) throw invalid(file, `"// rank:" must be an integer, got "${rankText}"`);
  const unavailable = header.get('unavailable') ?? null;
  const hooks = (header.get('hooks') ?? '')
    .split(/\s+/)
    .filter((s) => s.length > 0)
    .map((s) => parseHook(s, file));
  if (unavailable === null && hooks.length === 0) throw invalid(file, 'missing "// hooks:" header');
  const requires = new Set<string>();
  for (const h of hooks) if (h.kind !== 'tracepoint' && h.kind !== 'rawtracepoint') requires.add(h.target);
  for (const r of (header.get('requires') ?? '').split(/\s+/)) if (r) requires.add(r);
  return {
    file,
    probe,
    model,
    part: header.get('part') ?? 'main',
    rank,
    hooks,
    requires: [...requires],
    unavailable,
    body: lines.slice(i).join('\n').trim(),
  };
}

export interface SnippetLibrary {
  snippets: Snippet[];
  /** lib/NAME.bt or lib/NAME.<model>.bt contents by file name (`folio.new.bt`). */
  lib: ReadonlyMap<string, string>;
}

/** Read bpf/bpftrace/*.bt and bpf/bpftrace/lib/*.bt. Synchronous: plan() is synchronous. */
export function loadSnippetLibrary(dir: string): SnippetLibrary {
  try {
    const snippets = readdirSync(dir)
      .filter((f) => f.endsWith('.bt'))
      .sort()
      .map((f) => parseSnippet(f, readFileSync(path.join(dir, f), 'utf8')));
    const lib = new Map<string, string>();
    const libDir = path.join(dir, 'lib');
    for (const f of readdirSync(libDir).filter((x) => x.endsWith('.bt'))) {
      lib.set(f, readFileSync(path.join(libDir, f), 'utf8'));
    }
    return { snippets, lib };
  } catch (err) {
    if (err instanceof BpftraceError) throw err;
    throw new BpftraceError(
      'DAXMON_E_BPFTRACE_SNIPPETS_UNREADABLE',
      `cannot read bpftrace snippets in ${dir}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}
