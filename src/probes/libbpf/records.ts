/**
 * Decoder for the libbpf loader's stdout: frames of fixed-size binary records plus JSON meta
 * frames. The layout is defined in bpf/include/daxmon_record.h; keep the two in step.
 *
 * This is the hot path of the libbpf backend. It reads fields straight out of the chunk with
 * Buffer's little-endian readers, carries a partial frame across chunks in one reusable buffer,
 * and allocates nothing per record but the event object itself.
 */
import { monotonicNs } from '../../clock.js';
import type { BackendLog, Emit, StreamDecoder } from '../backend.js';
import {
  GUP_OPS,
  LAYOUT_BREAK_FNS,
  MAP_VIAS,
  MEMORY_TYPE_BY_KERNEL_VALUE,
  type DaxEvent,
  type PgmapRegistered,
} from '../../events/types.js';

export const WIRE_VERSION = 1;
export const REC_SIZE = 96;
export const FRAME_HDR_SIZE = 8;
export const FRAME_RECORDS = 1;
export const FRAME_JSON = 2;
/**
 * The ranges of one pgmap are reported within one memremap_pages() (or one discovery); a range
 * record still missing this long after the first is not coming.
 */
export const PGMAP_RANGES_WAIT_NS = 1e9;
/** A frame larger than this is a corrupt stream, not a big batch. */
export const MAX_FRAME_BYTES = 64 << 20;

export const REC = {
  PGMAP_REGISTERED: 1,
  PGMAP_TEARDOWN_BEGIN: 2,
  PGMAP_REF_RELEASED: 3,
  PGMAP_TEARDOWN_DONE: 4,
  DAX_FAULT: 5,
  DAX_ENTRY_INSERT: 6,
  DAX_ENTRY_REMOVE: 7,
  FOLIO_MAP: 8,
  FOLIO_UNMAP: 9,
  GUP: 10,
  GUP_LONGTERM_REFUSED: 11,
  FOLIO_PUT: 12,
  FOLIO_IDLE: 13,
  ZONE_DEVICE_FREE: 14,
  BUSY_PAGE_FOUND: 15,
  LAYOUT_BREAK_BEGIN: 16,
  LAYOUT_BREAK_END: 17,
  REFCOUNT_SAMPLE: 18,
} as const;

/** Field offsets within a record (struct daxmon_rec). */
export const OFF = {
  t: 0,
  type: 8,
  flags: 10,
  pid: 12,
  tid: 16,
  stackId: 20,
  comm: 24,
  pfn: 40,
  key: 48,
  refcount: 56,
  mapcount: 60,
  a: 64,
  b: 72,
  d: 80,
  ret: 88,
  order: 92,
  sub: 93,
} as const;

/** Loader meta frames (docs/backend-protocol.md). Unknown kinds are logged and ignored. */
export type LoaderMeta =
  | { kind: 'hello'; loader: string; wire: number; record_size: number; libbpf?: string }
  | {
      kind: 'attach';
      probe: string;
      program: string;
      target: string;
      attached: boolean;
      error: string | null;
    }
  | {
      kind: 'ready';
      attached?: number;
      failed?: number;
      /** Per probe: how many of its hooks this host has, and how many attached. */
      probes?: Record<string, { hooks: number; attached: number }>;
    }
  | { kind: 'lost'; count: number }
  | { kind: 'prog_stats'; run_stats?: boolean; final?: boolean; programs: ProgStatsEntry[] }
  | { kind: 'stack'; id: number; frames: string[] }
  | { kind: 'error'; message: string };

/** One program in a `prog_stats` frame (docs/backend-protocol.md): the kernel's bpf_prog_info. */
export interface ProgStatsEntry {
  program: string;
  probe: string;
  id: number;
  /** recursion_misses since the previous report of this program. */
  missed: number;
  misses: number;
  runs: number | null;
}

export interface LibbpfDecoderOptions {
  log: BackendLog;
  /** Called for meta frames the decoder does not turn into events itself (hello, ready, error). */
  onMeta?: (meta: LoaderMeta) => void;
}

const TWO32 = 4294967296;

function u64(buf: Buffer, off: number): number {
  // pfns, inode numbers and indexes are far below 2^53; values that are not (a sentinel ~0) lose
  // precision but stay recognisably huge.
  return buf.readUInt32LE(off + 4) * TWO32 + buf.readUInt32LE(off);
}

/** A 64-bit field holding ~0 (the loader's "unknown"). */
function isAllOnes(buf: Buffer, off: number): boolean {
  return buf.readUInt32LE(off) === 0xffffffff && buf.readUInt32LE(off + 4) === 0xffffffff;
}

function hex64(buf: Buffer, off: number): string {
  return '0x' + buf.readBigUInt64LE(off).toString(16);
}

function comm(buf: Buffer, off: number): string {
  let end = off;
  const max = off + 16;
  while (end < max && buf[end] !== 0) end++;
  return buf.toString('latin1', off, end);
}

export class LibbpfDecoder implements StreamDecoder {
  private pending: Buffer = Buffer.alloc(0);
  private readonly stacks = new Map<number, string[]>();
  private readonly attachErrors = new Map<string, string[]>();
  private readonly attachTargets = new Map<string, string[]>();
  /** Multi-range pgmaps whose last range record has not arrived yet, by key. */
  private readonly partialPgmaps = new Map<string, { event: PgmapRegistered; nrRange: number }>();
  private readonly log: BackendLog;
  private readonly onMeta: ((meta: LoaderMeta) => void) | undefined;
  /** Records decoded, for the backend's own accounting. */
  records = 0;
  private readySeen = false;

  constructor(opts: LibbpfDecoderOptions) {
    this.log = opts.log;
    this.onMeta = opts.onMeta;
  }

  push(chunk: Buffer, emit: Emit): void {
    let buf = chunk;
    if (this.pending.length > 0) buf = Buffer.concat([this.pending, chunk]);
    let off = 0;
    while (buf.length - off >= FRAME_HDR_SIZE) {
      const len = buf.readUInt32LE(off);
      const kind = buf.readUInt16LE(off + 4);
      const version = buf.readUInt16LE(off + 6);
      if (len > MAX_FRAME_BYTES || version !== WIRE_VERSION) {
        throw new Error(
          `libbpf stream corrupt at frame offset ${off}: len=${len} kind=${kind} version=${version} ` +
            `(expected wire version ${WIRE_VERSION})`,
        );
      }
      if (buf.length - off - FRAME_HDR_SIZE < len) break;
      const start = off + FRAME_HDR_SIZE;
      if (kind === FRAME_RECORDS) this.records_(buf, start, len, emit);
      else if (kind === FRAME_JSON) this.meta(buf.toString('utf8', start, start + len), emit);
      else this.log.warn('libbpf: unknown frame kind skipped', { kind, len });
      off = start + len;
    }
    this.pending = off === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(off));
  }

  end(emit: Emit): void {
    this.flushPartialPgmaps(null, emit);
    // A loader that exits before `ready` (--strict and a hook that did not attach) judged no
    // probe: the probes its attach frames failed on did not attach, and say so.
    if (!this.readySeen) {
      for (const [probe, errs] of this.attachErrors) {
        if (this.attachTargets.has(probe)) continue;
        emit({
          type: 'probe_status',
          t: monotonicNs(),
          pid: 0,
          comm: 'daxmon-loader',
          backend: 'libbpf',
          probe,
          attached: false,
          detail: errs.join('; '),
        });
      }
    }
    if (this.pending.length > 0) {
      this.log.warn('libbpf: stream ended inside a frame; partial frame dropped', {
        bytes: this.pending.length,
      });
      this.pending = Buffer.alloc(0);
    }
  }

  private records_(buf: Buffer, start: number, len: number, emit: Emit): void {
    if (len % REC_SIZE !== 0) {
      this.log.warn('libbpf: record frame length not a multiple of the record size', { len });
    }
    const end = start + len - (len % REC_SIZE);
    for (let off = start; off < end; off += REC_SIZE) {
      if (this.partialPgmaps.size > 0) this.flushPartialPgmaps(u64(buf, off + OFF.t), emit);
      const ev = this.decodeRecord(buf, off);
      if (ev !== null) {
        this.records++;
        emit(ev);
      }
    }
  }

  /**
   * Announce multi-range pgmaps still missing ranges once the stream is PGMAP_RANGES_WAIT_NS past
   * their first range (a range record lost or never sent), or all of them at the end (`now` null).
   */
  private flushPartialPgmaps(now: number | null, emit: Emit): void {
    for (const [key, p] of this.partialPgmaps) {
      if (now !== null && now - p.event.t < PGMAP_RANGES_WAIT_NS) continue;
      this.partialPgmaps.delete(key);
      this.log.warn('libbpf: pgmap registered with ranges missing', {
        pgmap: key,
        nrRange: p.nrRange,
        got: p.event.ranges.length,
      });
      this.records++;
      emit(p.event);
    }
  }

  /**
   * Decode one record at `off`; null for an unknown record type (with a log line) and for a range
   * record of a multi-range pgmap that is not its last.
   */
  decodeRecord(buf: Buffer, off: number): DaxEvent | null {
    const type = buf.readUInt16LE(off + OFF.type);
    const flags = buf.readUInt16LE(off + OFF.flags);
    const t = u64(buf, off + OFF.t);
    const pid = buf.readUInt32LE(off + OFF.pid);
    const c = comm(buf, off + OFF.comm);
    const stackId = buf.readInt32LE(off + OFF.stackId);
    const pfn = u64(buf, off + OFF.pfn);
    const order = buf[off + OFF.order] ?? 0;
    const sub = buf[off + OFF.sub] ?? 0;
    const refcount = buf.readInt32LE(off + OFF.refcount);
    const mapcount = buf.readInt32LE(off + OFF.mapcount);
    const ret = buf.readInt32LE(off + OFF.ret);
    const base = { t, pid, comm: c } as { t: number; pid: number; comm: string; stack?: string[] };
    if (stackId >= 0) {
      const frames = this.stacks.get(stackId);
      if (frames) base.stack = frames;
    }
    switch (type) {
      case REC.PGMAP_REGISTERED: {
        const pgmapType = MEMORY_TYPE_BY_KERNEL_VALUE[sub];
        if (!pgmapType) {
          this.log.warn('libbpf: pgmap with unknown memory type skipped', { memoryType: sub });
          return null;
        }
        const pgmap = hex64(buf, off + OFF.key);
        const range = { pfn, nrPages: u64(buf, off + OFF.a) };
        const event: PgmapRegistered = {
          ...base,
          type: 'pgmap_registered',
          pgmap,
          pgmapType,
          ranges: [range],
          vmemmapShift: order,
          hasPageFree: (flags & 1) !== 0,
          altmap: (flags & 2) !== 0,
          // DAXMON_F_DISCOVERED: read off a folio's pgmap, registered before the probes attached
          source: (flags & 4) !== 0 ? 'discovered' : 'hook',
        };
        const nrRange = u64(buf, off + OFF.d);
        if (nrRange <= 1) return event;
        // One record per range (b = range index, ~0 unknown; d = nr_range): the pgmap is announced
        // once, with all its ranges, when the last arrives (the state keeps the first registration
        // of a key, so a range announced later would be lost).
        const index = u64(buf, off + OFF.b);
        const partial = index === 0 ? undefined : this.partialPgmaps.get(pgmap);
        if (partial) partial.event.ranges.push(range);
        const p = partial ?? { event, nrRange };
        if (index !== nrRange - 1 && p.event.ranges.length < nrRange) {
          this.partialPgmaps.set(pgmap, p);
          return null;
        }
        this.partialPgmaps.delete(pgmap);
        if (p.event.ranges.length < nrRange) {
          this.log.warn('libbpf: pgmap registered with ranges missing', {
            pgmap,
            nrRange,
            got: p.event.ranges.length,
          });
        }
        return p.event;
      }
      case REC.PGMAP_TEARDOWN_BEGIN: {
        const nrPages = u64(buf, off + OFF.a);
        return {
          ...base,
          type: 'pgmap_teardown_begin',
          pgmap: hex64(buf, off + OFF.key),
          ...(nrPages > 0 ? { range: { pfn, nrPages } } : {}),
        };
      }
      case REC.PGMAP_REF_RELEASED:
        return { ...base, type: 'pgmap_ref_released', pgmap: hex64(buf, off + OFF.key) };
      case REC.PGMAP_TEARDOWN_DONE:
        return { ...base, type: 'pgmap_teardown_done', pgmap: hex64(buf, off + OFF.key) };
      case REC.DAX_FAULT:
        return {
          ...base,
          type: 'dax_fault',
          dev: u64(buf, off + OFF.a),
          ino: u64(buf, off + OFF.b),
          pgoff: u64(buf, off + OFF.d),
          pmd: (flags & 1) !== 0,
          write: (flags & 2) !== 0,
          result: ret >>> 0,
        };
      case REC.DAX_ENTRY_INSERT:
        return {
          ...base,
          type: 'dax_entry_insert',
          pfn,
          order,
          dev: u64(buf, off + OFF.a),
          ino: u64(buf, off + OFF.b),
          index: u64(buf, off + OFF.d),
          zero: (flags & 1) !== 0,
          empty: (flags & 2) !== 0,
          shared: (flags & 4) !== 0,
        };
      case REC.DAX_ENTRY_REMOVE:
        return {
          ...base,
          type: 'dax_entry_remove',
          pfn,
          order,
          dev: u64(buf, off + OFF.a),
          ino: u64(buf, off + OFF.b),
          index: isAllOnes(buf, off + OFF.d) ? null : u64(buf, off + OFF.d),
          trunc: (flags & 2) !== 0 ? null : (flags & 1) !== 0,
          refcount,
          mapcount,
        };
      case REC.FOLIO_MAP: {
        const via = MAP_VIAS[sub];
        if (!via) {
          this.log.warn('libbpf: folio_map with unknown insert function skipped', { via: sub });
          return null;
        }
        return {
          ...base,
          type: 'folio_map',
          pfn,
          order,
          via,
          write: (flags & 2) !== 0,
          ret: ret >>> 0,
          refcount,
          mapcount,
        };
      }
      case REC.FOLIO_UNMAP:
        return { ...base, type: 'folio_unmap', pfn, order, nr: u64(buf, off + OFF.a), refcount, mapcount };
      case REC.GUP: {
        const op = GUP_OPS[sub];
        if (!op) {
          this.log.warn('libbpf: gup record with unknown op skipped', { op: sub });
          return null;
        }
        return {
          ...base,
          type: 'gup',
          op,
          pfn,
          order,
          refs: u64(buf, off + OFF.a),
          flags: u64(buf, off + OFF.b),
          result: ret,
          refcount,
          pincount: u64(buf, off + OFF.d),
        };
      }
      case REC.GUP_LONGTERM_REFUSED:
        return { ...base, type: 'gup_longterm_refused', flags: u64(buf, off + OFF.b), result: ret };
      case REC.FOLIO_PUT:
        return { ...base, type: 'folio_put', pfn, order, refs: u64(buf, off + OFF.a), refcount };
      case REC.FOLIO_IDLE:
        return { ...base, type: 'folio_idle', pfn, order, refcount };
      case REC.ZONE_DEVICE_FREE:
        return {
          ...base,
          type: 'zone_device_free',
          pfn,
          order,
          refcount,
          mapcount,
          pageFreeCalled: (flags & 1) !== 0 ? (flags & 2) !== 0 : null,
        };
      case REC.BUSY_PAGE_FOUND:
        return {
          ...base,
          type: 'busy_page_found',
          dev: u64(buf, off + OFF.a),
          ino: u64(buf, off + OFF.b),
          pfn,
          order,
          refcount,
          mapcount,
        };
      case REC.LAYOUT_BREAK_BEGIN:
      case REC.LAYOUT_BREAK_END: {
        const fn = LAYOUT_BREAK_FNS[sub];
        if (!fn) {
          this.log.warn('libbpf: layout-break record with unknown function skipped', { fn: sub });
          return null;
        }
        const common = {
          ...base,
          tid: buf.readUInt32LE(off + OFF.tid),
          dev: u64(buf, off + OFF.a),
          ino: u64(buf, off + OFF.b),
          fn,
        };
        if (type === REC.LAYOUT_BREAK_BEGIN) {
          return { ...common, type: 'layout_break_begin', uninterruptible: (flags & 1) !== 0 };
        }
        const sleepsLo = buf.readUInt32LE(off + OFF.d);
        const sleepsHi = buf.readUInt32LE(off + OFF.d + 4);
        const sleeps =
          sleepsLo === 0xffffffff && sleepsHi === 0xffffffff ? null : sleepsHi * TWO32 + sleepsLo;
        return { ...common, type: 'layout_break_end', sleeps, result: ret };
      }
      case REC.REFCOUNT_SAMPLE: {
        const tail = (flags & 1) !== 0;
        return {
          ...base,
          type: 'refcount_sample',
          pfn,
          refcount,
          mapcount,
          flags: hex64(buf, off + OFF.a),
          tail,
          headPfn: tail ? u64(buf, off + OFF.b) : null,
          pgmapOk: (flags & 2) !== 0 ? (flags & 4) !== 0 : null,
          order,
          pincount: u64(buf, off + OFF.d),
        };
      }
      default:
        this.log.warn('libbpf: unknown record type skipped', { recordType: type });
        return null;
    }
  }

  private meta(text: string, emit: Emit): void {
    let meta: LoaderMeta;
    try {
      meta = JSON.parse(text) as LoaderMeta;
    } catch {
      this.log.warn('libbpf: malformed JSON meta frame skipped', { text: text.slice(0, 200) });
      return;
    }
    if (typeof meta !== 'object' || meta === null) {
      this.log.warn('libbpf: JSON meta frame is not an object; skipped', { text: text.slice(0, 200) });
      return;
    }
    const now = monotonicNs();
    switch (meta.kind) {
      case 'stack':
        this.stacks.set(meta.id, meta.frames);
        return;
      case 'lost':
        if (meta.count > 0) {
          emit({
            type: 'events_lost',
            t: now,
            pid: 0,
            comm: 'daxmon-loader',
            backend: 'libbpf',
            count: meta.count,
          });
        }
        return;
      case 'prog_stats':
        if (!Array.isArray(meta.programs)) return;
        for (const p of meta.programs) {
          if (typeof p?.program !== 'string' || !(Number(p.missed) >= 0) || !(Number(p.misses) >= 0)) {
            this.log.warn('libbpf: malformed prog_stats entry skipped', {
              entry: JSON.stringify(p).slice(0, 200),
            });
            continue;
          }
          emit({
            type: 'probe_missed',
            t: now,
            pid: 0,
            comm: 'daxmon-loader',
            backend: 'libbpf',
            probe: typeof p.probe === 'string' ? p.probe : p.program.split('__')[0]!,
            program: p.program,
            missed: Number(p.missed),
            runs: typeof p.runs === 'number' && p.runs >= 0 ? p.runs : null,
            misses: Number(p.misses),
          });
        }
        return;
      case 'attach':
        // A probe may have several hooks (folio_map_pte on 7.x: three insert functions), so one
        // frame does not decide the probe: remember failures for the detail and judge at `ready`.
        if (!meta.attached) {
          const errs = this.attachErrors.get(meta.probe) ?? [];
          errs.push(`${meta.target}: ${meta.error ?? 'failed'}`);
          this.attachErrors.set(meta.probe, errs);
        } else {
          const ok = this.attachTargets.get(meta.probe) ?? [];
          ok.push(meta.target);
          this.attachTargets.set(meta.probe, ok);
        }
        return;
      case 'ready':
        this.readySeen = true;
        for (const [probe, counts] of Object.entries(meta.probes ?? {})) {
          // The loader's own frame, but still input: a malformed entry is skipped, never a crash.
          if (typeof counts?.attached !== 'number' || typeof counts.hooks !== 'number') {
            this.log.warn('libbpf: malformed ready entry skipped', {
              probe,
              entry: JSON.stringify(counts ?? null).slice(0, 200),
            });
            continue;
          }
          const errs = this.attachErrors.get(probe) ?? [];
          const ok = this.attachTargets.get(probe) ?? [];
          const attached = counts.attached > 0;
          const partial = attached && counts.attached < counts.hooks;
          emit({
            type: 'probe_status',
            t: now,
            pid: 0,
            comm: 'daxmon-loader',
            backend: 'libbpf',
            probe,
            attached,
            detail: attached
              ? `${[...new Set(ok)].join(', ')}${partial ? ` (${counts.attached}/${counts.hooks} hooks; ${errs.join('; ')})` : ''}`
              : errs.join('; ') || 'no hook attached',
          });
        }
        this.onMeta?.(meta);
        return;
      default:
        this.onMeta?.(meta);
    }
  }
}
