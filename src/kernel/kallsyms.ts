/**
 * /proc/kallsyms: which kernel functions exist by name on this host.
 *
 * Only names are kept, never addresses: addresses are KASLR secrets (and read as zeros unless
 * root with kptr_restrict < 2, while names stay visible — docs/kernel-model.md §6). The file has
 * ~120k–200k lines, so it is parsed as a stream and only function symbols are stored.
 */
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { errnoOf, reason } from './errors.js';

/**
 * Symbol types that are functions. T/t are text; W/w are weak symbols, which in kallsyms are
 * weak *functions* (`page_is_ram`, `arch_vma_name`): weak objects would be V/v, and data only
 * appears at all with CONFIG_KALLSYMS_ALL.
 */
function isFunctionType(c: number): boolean {
  // 'T' 't' 'W' 'w'
  return c === 0x54 || c === 0x74 || c === 0x57 || c === 0x77;
}

/**
 * `__pfx_<fn>` symbols label the padding in front of each function (CONFIG_CALL_PADDING, used by
 * call-depth tracking and FineIBT). They are not functions and nothing attaches to them; storing
 * them would double the set.
 */
const PADDING_PREFIX = '__pfx_';

/**
 * Pseudo-modules whose "functions" are not kernel code a probe could target by name: JITed BPF
 * programs (`[bpf]`) and ftrace trampolines (`[__builtin__ftrace]`, `[__builtin__kprobes]`).
 */
function isPseudoModule(mod: string): boolean {
  return mod === 'bpf' || mod.startsWith('__builtin__');
}

export interface KallsymsParseResult {
  /** Function names, module ones included without the `[module]` suffix. */
  functions: Set<string>;
  /** Modules that contributed at least one function (e.g. `xfs`, `nd_pmem`). */
  modules: Set<string>;
  /** Lines seen (all symbol types). */
  lines: number;
  /** Every address read as zero: kptr_restrict (or not root) hides them; names are still valid. */
  addressesHidden: boolean;
}

/** Incremental parser: feed chunks of any size, get the result at the end. Pure, no I/O. */
export class KallsymsParser {
  private tail = '';
  private readonly functions = new Set<string>();
  private readonly modules = new Set<string>();
  private lines = 0;
  private nonZeroAddress = false;

  push(chunk: string): void {
    let text = chunk;
    if (this.tail.length > 0) {
      text = this.tail + chunk;
      this.tail = '';
    }
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      this.line(text, start, nl);
      start = nl + 1;
    }
    if (start < text.length) this.tail = text.slice(start);
  }

  end(): KallsymsParseResult {
    if (this.tail.length > 0) {
      this.line(this.tail, 0, this.tail.length);
      this.tail = '';
    }
    return {
      functions: this.functions,
      modules: this.modules,
      lines: this.lines,
      addressesHidden: this.lines > 0 && !this.nonZeroAddress,
    };
  }

  /** One line `ADDR TYPE NAME[\t[MODULE]]`, given as text[start, end). */
  private line(text: string, start: number, end: number): void {
    if (end > start && text.charCodeAt(end - 1) === 0x0d) end--;
    let sp1 = start;
    while (sp1 < end && text.charCodeAt(sp1) !== 0x20) sp1++;
    if (sp1 + 3 > end) return;
    this.lines++;
    if (!this.nonZeroAddress) {
      for (let i = start; i < sp1; i++) {
        if (text.charCodeAt(i) !== 0x30) {
          this.nonZeroAddress = true;
          break;
        }
      }
    }
    if (!isFunctionType(text.charCodeAt(sp1 + 1)) || text.charCodeAt(sp1 + 2) !== 0x20) return;
    const nameStart = sp1 + 3;
    // Bounded scans only: indexOf() on the whole chunk would run to the next tab, which for the
    // built-in symbols is tens of thousands of lines away (quadratic on a whole-file string).
    let nameEnd = nameStart;
    while (nameEnd < end && text.charCodeAt(nameEnd) !== 0x09) nameEnd++;
    let mod: string | null = null;
    if (nameEnd < end) {
      let open = nameEnd + 1;
      while (open < end && text.charCodeAt(open) !== 0x5b) open++;
      let close = end;
      while (close > open && text.charCodeAt(close - 1) !== 0x5d) close--;
      if (open < end && close - 1 > open) mod = text.slice(open + 1, close - 1);
    }
    if (nameEnd <= nameStart) return;
    if (text.startsWith(PADDING_PREFIX, nameStart)) return;
    if (mod !== null) {
      if (isPseudoModule(mod)) return;
      this.modules.add(mod);
    }
    this.functions.add(text.slice(nameStart, nameEnd));
  }
}

/** Parse a whole kallsyms text at once (tests, fixtures). */
export function parseKallsyms(text: string): KallsymsParseResult {
  const p = new KallsymsParser();
  p.push(text);
  return p.end();
}

export type KallsymsRead =
  | ({ readable: true; path: string } & KallsymsParseResult)
  | { readable: false; path: string; reason: string };

/** Stream-parse `<procRoot>/kallsyms`. Never throws: an unreadable file is a reason. */
export async function readKallsyms(procRoot = '/proc'): Promise<KallsymsRead> {
  const file = path.join(procRoot, 'kallsyms');
  const parser = new KallsymsParser();
  try {
    // latin1: symbol names are ASCII, and a 1:1 byte decoding cannot split a character
    // across chunk boundaries.
    const stream = createReadStream(file, { encoding: 'latin1', highWaterMark: 256 * 1024 });
    for await (const chunk of stream) parser.push(chunk as string);
  } catch (err) {
    return {
      readable: false,
      path: file,
      reason: reason(
        'DAXMON_E_KALLSYMS_UNREADABLE',
        `cannot read ${file} (${errnoOf(err)}); daxmon cannot tell which kernel functions exist. ` +
          'Run daxmon on the host (not in a container without /proc) or as root.',
      ),
    };
  }
  const result = parser.end();
  if (result.lines === 0) {
    return {
      readable: false,
      path: file,
      reason: reason(
        'DAXMON_E_KALLSYMS_UNREADABLE',
        `${file} is empty (CONFIG_KALLSYMS=n?); function presence cannot be checked`,
      ),
    };
  }
  return { readable: true, path: file, ...result };
}

// ---- compiler clones ---------------------------------------------------------------------------

/**
 * GCC/clang clone suffixes that still denote the function's whole body from its entry, with a
 * changed calling convention: a kprobe on `foo.isra.0` sees every call of `foo`, but the
 * arguments are not the source-level ones and fentry cannot use it (no BTF FUNC under that
 * name). docs/kernel-model.md §4.2: `dax_folio_put.isra.0`, `insert_pmd.isra.0`.
 */
const WHOLE_CLONE_SUFFIXES = new Set(['isra', 'constprop', 'lto_priv', 'llvm', 'localalias']);
/** Suffixes of fragments (`.part.N` outlined tail, `.cold` unlikely path): not the function's entry. */
const FRAGMENT_SUFFIXES = new Set(['part', 'cold']);

export interface FunctionPresence {
  /** The exact name is present: attachable by name (kprobe; fentry if BTF has the FUNC too). */
  exact: boolean;
  /** Whole-function clones (`name.isra.0`, `name.constprop.0`): kprobe-only, arguments unreliable. */
  clones: string[];
  /** Fragments (`name.part.0`, `name.cold`): the body exists but these are not its entry. */
  fragments: string[];
}

type CloneIndex = Map<string, { clones: string[]; fragments: string[] }>;
const cloneIndexes = new WeakMap<ReadonlySet<string>, CloneIndex>();

/** Built once per set (a few thousand dotted names) so repeated look-ups are O(1). */
function cloneIndex(functions: ReadonlySet<string>): CloneIndex {
  let index = cloneIndexes.get(functions);
  if (index) return index;
  index = new Map();
  for (const fn of functions) {
    const dot = fn.indexOf('.');
    if (dot <= 0) continue;
    const base = fn.slice(0, dot);
    const parts = fn.slice(dot + 1).split('.');
    let fragment = false;
    let clone = false;
    for (const part of parts) {
      if (FRAGMENT_SUFFIXES.has(part)) fragment = true;
      else if (WHOLE_CLONE_SUFFIXES.has(part)) clone = true;
    }
    if (!fragment && !clone) continue;
    let entry = index.get(base);
    if (!entry) {
      entry = { clones: [], fragments: [] };
      index.set(base, entry);
    }
    (fragment ? entry.fragments : entry.clones).push(fn);
  }
  cloneIndexes.set(functions, index);
  return index;
}

/** Is `name` present exactly, or as a compiler clone (`name.isra.N`, `name.constprop.N`)? */
export function findFunction(functions: ReadonlySet<string>, name: string): FunctionPresence {
  const entry = cloneIndex(functions).get(name);
  return {
    exact: functions.has(name),
    clones: entry ? [...entry.clones].sort() : [],
    fragments: entry ? [...entry.fragments].sort() : [],
  };
}

/** Present exactly or as a whole-function clone: the code exists and a kprobe can reach it. */
export function hasFunctionOrClone(functions: ReadonlySet<string>, name: string): boolean {
  if (functions.has(name)) return true;
  const entry = cloneIndex(functions).get(name);
  return entry !== undefined && entry.clones.length > 0;
}
