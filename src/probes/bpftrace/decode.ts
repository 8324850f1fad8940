/**
 * bpftrace stdout → DaxEvents. Lines follow format.ts; anything else is logged and skipped,
 * never thrown: a decoder crash would lose the whole stream.
 */
import { StringDecoder } from 'node:string_decoder';
import type { BackendLog, Emit, StreamDecoder } from '../backend.js';
import {
  FOLL,
  LAYOUT_BREAK_FNS,
  MAP_VIAS,
  MEMORY_TYPE_BY_KERNEL_VALUE,
  type DaxEvent,
  type LayoutBreakFn,
  type MapVia,
} from '../../events/types.js';
import { LINE_FIELDS, LINE_FORMAT_VERSION, STACK_END, type LineTag } from './format.js';

export interface DecoderOptions {
  log: BackendLog;
  /** Probes in the running script: each gets probe_status attached=true once BEGIN has run. */
  included: readonly { probe: string; detail: string }[];
  /** layout_break_sleep is in the script, so the LE line's sleep count means something. */
  sleepsKnown: boolean;
}

/** FAULT_FLAG_WRITE (include/linux/mm_types.h, bit 0 in 6.1 .. 7.3). */
const FAULT_FLAG_WRITE = 1;
const MAX_LINE = 64 * 1024;
const MAX_FRAMES = 64;

type Fields = Record<string, number | string>;

/** The fields of each tag, by tag as read from a line: a Map, so a tag like `constructor` is unknown. */
const FIELDS_BY_TAG: ReadonlyMap<string, readonly string[]> = new Map(Object.entries(LINE_FIELDS));

/** A kstack frame as bpftrace prints it ("func+123", or "ffffffff81234567 func+123" in perf mode). */
export function symbolizeFrame(raw: string): string | null {
  const tokens = raw
    .trim()
    .split(/\s+/)
    .filter((t) => t.length > 0);
  for (let i = tokens.length - 1; i >= 0; i--) {
    const tok = tokens[i] as string;
    // Never pass a raw kernel address on (KASLR): unresolved frames become "?".
    if (/^(0x)?[0-9a-f]{8,16}$/i.test(tok)) continue;
    return tok.replace(/\+(0x[0-9a-f]+|\d+)$/i, '');
  }
  return tokens.length > 0 ? '?' : null;
}

/**
 * Frames of the tracer itself (the BPF program and its trampoline), which bpftrace's kstack includes
 * for kfunc/kretfunc probes (seen on 7.3: `bpf_prog_<tag>_memunmap_pages` on top of the teardown
 * stack). They say nothing about the kernel path; the libbpf loader drops them too.
 */
export function isTracerFrame(frame: string): boolean {
  return /^bpf_(prog|trampoline)_/.test(frame);
}

export class BpftraceDecoder implements StreamDecoder {
  private tail = '';
  // Keeps a UTF-8 sequence split across two chunks whole (comm is arbitrary bytes).
  private readonly utf8 = new StringDecoder('utf8');
  private pending: { event: DaxEvent; frames: string[] } | null = null;
  private lastT = 0;
  private versionSeen = false;
  private warnedMultiRange = false;

  constructor(private readonly opts: DecoderOptions) {}

  /** The last kernel timestamp seen (ns), to stamp meta events that have none of their own. */
  get lastTimestamp(): number {
    return this.lastT;
  }

  push(chunk: Buffer, emit: Emit): void {
    let text = this.tail + this.utf8.write(chunk);
    this.tail = '';
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      this.line(text.slice(start, nl), emit);
      start = nl + 1;
    }
    text = text.slice(start);
    if (text.length > MAX_LINE) {
      this.opts.log.warn('bpftrace line longer than 64 KiB dropped', { bytes: text.length });
      text = '';
    }
    this.tail = text;
  }

  end(emit: Emit): void {
    this.tail += this.utf8.end();
    if (this.tail.length > 0) {
      this.opts.log.warn('bpftrace output ended inside a line', { line: this.tail.slice(0, 200) });
      this.tail = '';
    }
    this.flushPending(emit, 'bpftrace output ended inside a stack block');
  }

  /** One line of bpftrace stdout (without the newline). Public for tests. */
  line(raw: string, emit: Emit): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (this.pending) {
      if (line === STACK_END) {
        const { event, frames } = this.pending;
        this.pending = null;
        emit(frames.length > 0 ? { ...event, stack: frames } : event);
        return;
      }
      if (line.trim().length === 0) return;
      if (/^\s/.test(line)) {
        const f = symbolizeFrame(line);
        if (f !== null && !isTracerFrame(f) && this.pending.frames.length < MAX_FRAMES)
          this.pending.frames.push(f);
        return;
      }
      this.flushPending(emit, 'stack block not terminated');
    }
    if (line.length === 0) return;
    const lost = /^Lost (\d+) events/.exec(line);
    if (lost) {
      emit(lostEvent(Number(lost[1]), this.lastT));
      return;
    }
    if (line.startsWith('Attaching ')) {
      this.opts.log.debug(line);
      return;
    }
    const parts = line.split('\t');
    const rawTag = parts[0] as string;
    if (rawTag === 'V') {
      this.versionLine(parts, line, emit);
      return;
    }
    const withStack = rawTag.endsWith('+');
    const tag = (withStack ? rawTag.slice(0, -1) : rawTag) as LineTag;
    const spec = FIELDS_BY_TAG.get(tag);
    if (spec === undefined) return this.malformed(line, 'unknown tag');
    if (parts.length < 4 + spec.length) return this.malformed(line, 'too few fields');
    const t = parseUnsigned(parts[1]);
    const pid = parseUnsigned(parts[2]);
    if (t === null || pid === null) return this.malformed(line, 'bad t or pid');
    const f: Fields = {};
    for (let i = 0; i < spec.length; i++) {
      const [name, kind] = (spec[i] as string).split(':') as [string, string];
      const text = parts[3 + i] as string;
      const v =
        kind === 'u'
          ? parseUnsigned(text)
          : kind === 'i'
            ? parseSigned(text)
            : kind === 'x'
              ? parseHexKey(text)
              : text;
      if (v === null || v === '') return this.malformed(line, `bad field ${name}`);
      f[name] = v;
    }
    const comm = parts.slice(3 + spec.length).join('\t');
    let event: DaxEvent | string;
    try {
      event = this.build(tag, f, { t, pid, comm });
    } catch (err) {
      event = err instanceof Error ? err.message : String(err);
    }
    if (typeof event === 'string') return this.malformed(line, event);
    this.lastT = t;
    if (withStack) this.pending = { event, frames: [] };
    else emit(event);
  }

  private versionLine(parts: string[], line: string, emit: Emit): void {
    const version = parseUnsigned(parts[1]);
    const t = parseUnsigned(parts[2]) ?? this.lastT;
    if (version !== LINE_FORMAT_VERSION) {
      this.opts.log.warn('bpftrace script speaks another line format version', {
        line,
        expected: LINE_FORMAT_VERSION,
      });
    }
    if (this.versionSeen) return;
    this.versionSeen = true;
    this.lastT = t;
    // BEGIN runs only after bpftrace attached every probe of the script.
    for (const p of this.opts.included) {
      emit({
        type: 'probe_status',
        t,
        pid: 0,
        comm: '',
        backend: 'bpftrace',
        probe: p.probe,
        attached: true,
        detail: p.detail,
      });
    }
  }

  private flushPending(emit: Emit, why: string): void {
    if (!this.pending) return;
    this.opts.log.warn(why, { type: this.pending.event.type });
    const { event, frames } = this.pending;
    this.pending = null;
    emit(frames.length > 0 ? { ...event, stack: frames } : event);
  }

  private malformed(line: string, why: string): void {
    this.opts.log.warn('malformed bpftrace line skipped', { why, line: line.slice(0, 200) });
  }

  private build(tag: LineTag, f: Fields, base: { t: number; pid: number; comm: string }): DaxEvent | string {
    const n = (k: string): number => f[k] as number;
    const s = (k: string): string => f[k] as string;
    switch (tag) {
      case 'R': {
        const pgmapType = MEMORY_TYPE_BY_KERNEL_VALUE[n('type')];
        if (pgmapType === undefined) return `unknown memory_type ${n('type')}`;
        if (s('src') !== 'h' && s('src') !== 'd') return `unknown pgmap source ${s('src')}`;
        if (n('nrRange') > 1 && !this.warnedMultiRange) {
          this.warnedMultiRange = true;
          this.opts.log.warn('pgmap has more than one range; the bpftrace backend reports only the first', {
            nrRange: n('nrRange'),
          });
        }
        return {
          ...base,
          type: 'pgmap_registered',
          pgmap: s('pgmap'),
          pgmapType,
          ranges: [{ pfn: n('pfn'), nrPages: n('nrPages') }],
          vmemmapShift: n('shift'),
          hasPageFree: n('pagefree') !== 0,
          altmap: n('altmap') !== 0,
          source: s('src') === 'h' ? 'hook' : 'discovered',
        };
      }
      case 'TB':
        return { ...base, type: 'pgmap_teardown_begin', pgmap: s('pgmap') };
      case 'TR':
        return { ...base, type: 'pgmap_ref_released', pgmap: s('pgmap') };
      case 'TD':
        return { ...base, type: 'pgmap_teardown_done', pgmap: s('pgmap') };
      case 'F':
        return {
          ...base,
          type: 'dax_fault',
          dev: n('dev'),
          ino: n('ino'),
          pgoff: n('pgoff'),
          pmd: n('pmd') !== 0,
          write: (n('flags') & FAULT_FLAG_WRITE) !== 0,
          result: n('result'),
        };
      case 'EI':
        return {
          ...base,
          type: 'dax_entry_insert',
          pfn: n('pfn'),
          order: n('order'),
          dev: n('dev'),
          ino: n('ino'),
          index: n('index'),
          zero: (n('eflags') & 1) !== 0,
          empty: (n('eflags') & 2) !== 0,
          shared: (n('eflags') & 4) !== 0,
        };
      case 'ER':
        return {
          ...base,
          type: 'dax_entry_remove',
          pfn: n('pfn'),
          order: n('order'),
          dev: n('dev'),
          ino: n('ino'),
          index: n('index'),
          trunc: n('trunc') !== 0,
          refcount: n('refcount'),
          mapcount: n('mapcount'),
        };
      case 'M': {
        if (!(MAP_VIAS as readonly string[]).includes(s('via'))) return `unknown insert function ${s('via')}`;
        return {
          ...base,
          type: 'folio_map',
          pfn: n('pfn'),
          order: n('order'),
          via: s('via') as MapVia,
          write: n('write') !== 0,
          ret: n('ret'),
          refcount: n('refcount'),
          mapcount: n('mapcount'),
        };
      }
      case 'U':
        return {
          ...base,
          type: 'folio_unmap',
          pfn: n('pfn'),
          order: n('order'),
          nr: n('nr'),
          refcount: n('refcount'),
          mapcount: n('mapcount'),
        };
      case 'GG':
      case 'GP': {
        const pin = (n('flags') & FOLL.PIN) !== 0;
        return {
          ...base,
          type: 'gup',
          op: tag === 'GG' ? (pin ? 'pin' : 'get') : pin ? 'unpin' : 'put',
          pfn: n('pfn'),
          order: n('order'),
          refs: n('refs'),
          flags: n('flags'),
          result: tag === 'GG' ? n('result') : 0,
          refcount: n('refcount'),
          pincount: n('pincount'),
        };
      }
      case 'GL':
        return { ...base, type: 'gup_longterm_refused', flags: n('flags'), result: n('result') };
      case 'DP':
        return {
          ...base,
          type: 'folio_put',
          pfn: n('pfn'),
          order: n('order'),
          refs: n('refs'),
          refcount: n('refcount'),
        };
      case 'I':
        return { ...base, type: 'folio_idle', pfn: n('pfn'), order: n('order'), refcount: n('refcount') };
      case 'Z':
        return {
          ...base,
          type: 'zone_device_free',
          pfn: n('pfn'),
          order: n('order'),
          refcount: n('refcount'),
          mapcount: n('mapcount'),
          // The pgmap's ->page_free target is not probed by the bpftrace backend.
          pageFreeCalled: null,
        };
      case 'B':
        return {
          ...base,
          type: 'busy_page_found',
          dev: n('dev'),
          ino: n('ino'),
          pfn: n('pfn'),
          order: n('order'),
          refcount: n('refcount'),
          mapcount: n('mapcount'),
        };
      case 'LB':
      case 'LE': {
        if (!(LAYOUT_BREAK_FNS as readonly string[]).includes(s('fn')))
          return `unknown layout-break function ${s('fn')}`;
        const common = { ...base, tid: n('tid'), dev: n('dev'), ino: n('ino'), fn: s('fn') as LayoutBreakFn };
        if (tag === 'LB')
          return { ...common, type: 'layout_break_begin', uninterruptible: n('uninterruptible') !== 0 };
        return {
          ...common,
          type: 'layout_break_end',
          sleeps: this.opts.sleepsKnown ? n('sleeps') : null,
          result: n('result'),
        };
      }
    }
  }
}

export function lostEvent(count: number, t: number): DaxEvent {
  return { type: 'events_lost', t, pid: 0, comm: '', backend: 'bpftrace', count };
}

function parseUnsigned(text: string | undefined): number | null {
  if (text === undefined || !/^\d{1,20}$/.test(text)) return null;
  return Number(text);
}

function parseSigned(text: string | undefined): number | null {
  if (text === undefined || !/^-?\d{1,20}$/.test(text)) return null;
  return Number(text);
}

function parseHexKey(text: string | undefined): string | null {
  if (text === undefined || !/^0x[0-9a-f]{1,16}$/.test(text)) return null;
  return text;
}
