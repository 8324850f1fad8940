/**
 * The binary recording format: the same events as the NDJSON format, for replay at millions of
 * events per second (JSON.parse alone caps NDJSON replay well below a million on these machines).
 *
 *   "DAXMONB1"  u32 header length  header JSON (the NDJSON header object, same fields)
 *   then items, each starting with a tag byte:
 *     0 … EVENT_TYPES.length-1   an event of that type: its fields in schema order (COMMON first)
 *     0xFE                       a string definition: u16 byte length, UTF-8 bytes; it takes the
 *                                next index of the string table (comm, pgmap ids, stack frames…)
 *
 * Field encodings (little-endian): uint/int f64; str u32 string index; bool u8; bool? u8 (2 =
 * null); uint?/int? u8 present + f64; str? u32 (0xFFFFFFFF = null); enum u8 index; range f64 pfn,
 * f64 nrPages; ranges u16 count + ranges. An optional field is preceded by a u8 presence flag, and
 * every event ends with the optional `stack`: u8 present, u16 count, u32 string indexes.
 *
 * Table-driven from src/events/schema.ts, so a field added there is carried here without a
 * second description. The decoder checks what the bytes cannot guarantee (integers, enum
 * indexes, string indexes, orders); a torn or corrupt item ends decoding with its byte offset,
 * keeping every event before it.
 */
import { COMMON, EVENT_SCHEMA, MAX_ORDER, type FieldSpec, type Kind } from './schema.js';
import { EVENT_TYPES, type DaxEvent, type RefcountModel } from './types.js';
import { SCHEMA_VERSION, type DecodeSink, type InputErrorCode, type StreamHeader } from './ndjson.js';

export const BINARY_MAGIC = Buffer.from('DAXMONB1', 'latin1');
const TAG_STRING = 0xfe;
const NULL_STR = 0xffffffff;
const MAX_HEADER_BYTES = 1 << 16;

// Field ops, resolved once per type so the decode loop is a switch over small integers.
const OP = {
  uint: 0,
  int: 1,
  str: 2,
  bool: 3,
  boolN: 4,
  uintN: 5,
  intN: 6,
  strN: 7,
  enum: 8,
  range: 9,
  ranges: 10,
} as const;
type Op = (typeof OP)[keyof typeof OP];

interface FieldOp {
  name: string;
  op: Op;
  optional: boolean;
  values: readonly string[];
}

function opOf(kind: Kind): Op {
  if (typeof kind === 'object') return OP.enum;
  switch (kind) {
    case 'uint':
      return OP.uint;
    case 'int':
      return OP.int;
    case 'str':
      return OP.str;
    case 'bool':
      return OP.bool;
    case 'bool?':
      return OP.boolN;
    case 'uint?':
      return OP.uintN;
    case 'int?':
      return OP.intN;
    case 'str?':
      return OP.strN;
    case 'range':
      return OP.range;
    case 'ranges':
      return OP.ranges;
  }
}

const fieldOps = (spec: readonly FieldSpec[]): FieldOp[] =>
  spec.map((f) => ({
    name: f.name,
    op: opOf(f.kind),
    optional: f.optional ?? false,
    values: typeof f.kind === 'object' ? f.kind.enum : [],
  }));

/** Per type index: COMMON then the type's own fields. */
const OPS: readonly FieldOp[][] = EVENT_TYPES.map((t) => fieldOps([...COMMON, ...EVENT_SCHEMA[t]]));
const TYPE_INDEX = new Map<string, number>(EVENT_TYPES.map((t, i) => [t, i]));

type Reader = (d: BinaryDecoder) => Record<string, unknown>;

/**
 * One generated function per type that builds the event as an object literal in schema order:
 * every event of a type gets the same hidden class, which is what keeps decoding and the
 * pipeline that reads these objects fast (a generic field loop was slower than JSON.parse).
 * The source is built from the schema table only, never from input.
 */
function makeReader(type: string, ops: readonly FieldOp[]): Reader {
  const call = (f: FieldOp, i: number): string => {
    const n = JSON.stringify(f.name);
    switch (f.op) {
      case OP.uint:
        return `d.rUint(${n})`;
      case OP.int:
        return `d.rInt(${n})`;
      case OP.str:
        return 'd.rStr()';
      case OP.bool:
        return 'd.rBool()';
      case OP.boolN:
        return 'd.rBoolN()';
      case OP.uintN:
        return `d.rUintN(${n})`;
      case OP.intN:
        return `d.rIntN(${n})`;
      case OP.strN:
        return 'd.rStrN()';
      case OP.enum:
        return `d.rEnum(E[${i}], ${n})`;
      case OP.range:
        return 'd.rRange()';
      case OP.ranges:
        return `d.rRanges(${n})`;
    }
  };
  const props = ops.map((f, i) => {
    const v = f.optional ? `(d.rPresent() ? ${call(f, i)} : undefined)` : call(f, i);
    return `${JSON.stringify(f.name)}: ${v}`;
  });
  const drop = ops
    .filter((f) => f.optional)
    .map((f) => `if (e[${JSON.stringify(f.name)}] === undefined) delete e[${JSON.stringify(f.name)}];`);
  const src = `const e = { type: ${JSON.stringify(type)}, ${props.join(', ')} };
${drop.join('\n')}
const s = d.rStack();
if (s !== undefined) e.stack = s;
return e;`;
  const f = new Function('E', 'd', src) as (
    e: readonly (readonly string[])[],
    d: BinaryDecoder,
  ) => Record<string, unknown>;
  const enums = ops.map((o) => o.values);
  return (d) => f(enums, d);
}

const READERS: readonly Reader[] = EVENT_TYPES.map((t, i) => makeReader(t, OPS[i]!));

export function isBinaryRecording(head: Buffer): boolean {
  return head.length >= BINARY_MAGIC.length && head.subarray(0, BINARY_MAGIC.length).equals(BINARY_MAGIC);
}

/** Encodes events one at a time (the live recorder) or a whole stream (tests, conversion). */
export class BinaryEncoder {
  private readonly strings = new Map<string, number>();
  private buf = Buffer.allocUnsafe(4096);
  private len = 0;

  header(h: Omit<StreamHeader, 'daxmon' | 'schema'>): Buffer {
    const json = Buffer.from(JSON.stringify({ daxmon: 'events', schema: SCHEMA_VERSION, ...h }));
    const out = Buffer.alloc(BINARY_MAGIC.length + 4 + json.length);
    BINARY_MAGIC.copy(out, 0);
    out.writeUInt32LE(json.length, BINARY_MAGIC.length);
    json.copy(out, BINARY_MAGIC.length + 4);
    return out;
  }

  /** The bytes of one event, preceded by definitions of strings it is the first to use. */
  event(e: DaxEvent): Buffer {
    this.len = 0;
    this.write(e);
    return Buffer.from(this.buf.subarray(0, this.len));
  }

  /** Many events into one buffer (fewer copies). */
  events(list: Iterable<DaxEvent>): Buffer {
    this.len = 0;
    for (const e of list) this.write(e);
    return Buffer.from(this.buf.subarray(0, this.len));
  }

  private write(e: DaxEvent): void {
    const ti = TYPE_INDEX.get(e.type);
    if (ti === undefined) throw new Error(`binary encoder: unknown event type ${String(e.type)}`);
    const o = e as unknown as Record<string, unknown>;
    // Strings first: a definition may not sit inside an event's bytes.
    for (const f of OPS[ti]!) {
      const v = o[f.name];
      if ((f.op === OP.str || f.op === OP.strN) && typeof v === 'string') this.define(v);
    }
    const stack = (o.stack as string[] | undefined) ?? undefined;
    if (stack) for (const s of stack) this.define(s);

    this.ensure(1);
    this.buf[this.len++] = ti;
    for (const f of OPS[ti]!) {
      const v = o[f.name];
      if (f.optional) {
        this.ensure(1);
        this.buf[this.len++] = v === undefined ? 0 : 1;
        if (v === undefined) continue;
      }
      this.field(f, v);
    }
    this.ensure(1);
    if (!stack) {
      this.buf[this.len++] = 0;
    } else {
      this.buf[this.len++] = 1;
      this.ensure(2 + 4 * stack.length);
      this.len = this.buf.writeUInt16LE(stack.length, this.len);
      for (const s of stack) this.len = this.buf.writeUInt32LE(this.strings.get(s)!, this.len);
    }
  }

  private field(f: FieldOp, v: unknown): void {
    this.ensure(9);
    switch (f.op) {
      case OP.uint:
      case OP.int:
        this.len = this.buf.writeDoubleLE(v as number, this.len);
        return;
      case OP.str:
        this.len = this.buf.writeUInt32LE(this.strings.get(v as string)!, this.len);
        return;
      case OP.bool:
        this.buf[this.len++] = v ? 1 : 0;
        return;
      case OP.boolN:
        this.buf[this.len++] = v === null ? 2 : v ? 1 : 0;
        return;
      case OP.uintN:
      case OP.intN:
        if (v === null) {
          this.buf[this.len++] = 0;
        } else {
          this.buf[this.len++] = 1;
          this.len = this.buf.writeDoubleLE(v as number, this.len);
        }
        return;
      case OP.strN:
        this.len = this.buf.writeUInt32LE(v === null ? NULL_STR : this.strings.get(v as string)!, this.len);
        return;
      case OP.enum: {
        const i = f.values.indexOf(v as string);
        if (i < 0)
          throw new Error(`binary encoder: ${f.name} "${String(v)}" is not one of ${f.values.join('|')}`);
        this.buf[this.len++] = i;
        return;
      }
      case OP.range: {
        const r = v as { pfn: number; nrPages: number };
        this.ensure(16);
        this.len = this.buf.writeDoubleLE(r.pfn, this.len);
        this.len = this.buf.writeDoubleLE(r.nrPages, this.len);
        return;
      }
      case OP.ranges: {
        const rs = v as { pfn: number; nrPages: number }[];
        this.ensure(2 + 16 * rs.length);
        this.len = this.buf.writeUInt16LE(rs.length, this.len);
        for (const r of rs) {
          this.len = this.buf.writeDoubleLE(r.pfn, this.len);
          this.len = this.buf.writeDoubleLE(r.nrPages, this.len);
        }
        return;
      }
    }
  }

  private define(s: string): void {
    if (this.strings.has(s)) return;
    const bytes = Buffer.from(s, 'utf8');
    if (bytes.length > 0xffff) throw new Error('binary encoder: string longer than 65535 bytes');
    this.ensure(3 + bytes.length);
    this.buf[this.len++] = TAG_STRING;
    this.len = this.buf.writeUInt16LE(bytes.length, this.len);
    this.len += bytes.copy(this.buf, this.len);
    this.strings.set(s, this.strings.size);
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
}

/** Thrown inside the decoder for a corrupt item; caught at the item boundary. */
class Corrupt extends Error {}
/** The item continues past the bytes received so far. */
class NeedMore extends Error {}
const NEED_MORE = new NeedMore();

/**
 * Push-based decoder with the NDJSON decoder's sink. `line` in the sink's callbacks is the
 * 1-based ordinal of the event (string definitions are not counted); messages give byte offsets.
 */
export class BinaryDecoder {
  private pending: Buffer = Buffer.alloc(0);
  /** Stream offset of pending[0]. */
  private base = 0;
  private pos = 0;
  private buf: Buffer = this.pending;
  private sawHeader = false;
  private stopped = false;
  private readonly strings: string[] = [];
  private eventNo = 0;

  constructor(private readonly sink: DecodeSink) {}

  get events(): number {
    return this.eventNo;
  }

  stop(): void {
    this.stopped = true;
  }

  push(chunk: Buffer): void {
    if (this.stopped) return;
    this.buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pos = 0;
    if (!this.sawHeader && !this.header()) {
      this.keep();
      return;
    }
    while (!this.stopped && this.pos < this.buf.length) {
      const start = this.pos;
      try {
        this.item();
      } catch (err) {
        if (err === NEED_MORE) {
          this.pos = start;
          break;
        }
        if (err instanceof Corrupt) {
          this.fail(
            `${err.message} at byte ${this.base + start}; the rest of the recording is unreadable`,
            'DAXMON_E_INPUT_CORRUPT',
          );
          return;
        }
        throw err;
      }
    }
    this.keep();
  }

  end(): void {
    if (this.stopped) return;
    if (!this.sawHeader) {
      if (this.pending.length === 0 && this.base === 0)
        this.fail('empty input: no header', 'DAXMON_E_INPUT_EMPTY');
      else this.fail('truncated header: the recording ends inside it', 'DAXMON_E_INPUT_HEADER');
      return;
    }
    if (this.pending.length > 0) {
      this.sink.error(
        `truncated event at byte ${this.base}: the recording ends ${this.pending.length} byte(s) into it (a torn write)`,
        this.eventNo + 1,
        false,
      );
    }
  }

  private keep(): void {
    this.pending = this.pos < this.buf.length ? Buffer.from(this.buf.subarray(this.pos)) : Buffer.alloc(0);
    this.base += this.pos;
  }

  private fail(message: string, code: InputErrorCode): void {
    this.sink.error(message, this.eventNo + 1, true, code);
    this.stopped = true;
  }

  private header(): boolean {
    const b = this.buf;
    const need = BINARY_MAGIC.length + 4;
    if (b.length < need) return false;
    if (!isBinaryRecording(b)) {
      this.fail('not a daxmon binary recording (no DAXMONB1 magic)', 'DAXMON_E_INPUT_HEADER');
      return false;
    }
    const n = b.readUInt32LE(BINARY_MAGIC.length);
    if (n > MAX_HEADER_BYTES) {
      this.fail(
        `header length ${n} is larger than ${MAX_HEADER_BYTES}: not a daxmon recording`,
        'DAXMON_E_INPUT_HEADER',
      );
      return false;
    }
    if (b.length < need + n) return false;
    let h: Record<string, unknown>;
    try {
      h = JSON.parse(b.toString('utf8', need, need + n)) as Record<string, unknown>;
    } catch (err) {
      this.fail(`header is not valid JSON (${(err as Error).message})`, 'DAXMON_E_INPUT_HEADER');
      return false;
    }
    this.pos = need + n;
    this.sawHeader = true;
    if (typeof h !== 'object' || h === null || h.daxmon !== 'events') {
      this.fail(
        `unsupported header: this daxmon reads {"daxmon":"events","schema":${SCHEMA_VERSION}}, got ${JSON.stringify(h).slice(0, 120)}`,
        'DAXMON_E_INPUT_HEADER',
      );
      return false;
    }
    if (h.schema !== SCHEMA_VERSION) {
      this.fail(
        `unsupported schema version ${JSON.stringify(h.schema) ?? 'undefined'}: this daxmon reads schema ${SCHEMA_VERSION}`,
        'DAXMON_E_INPUT_SCHEMA',
      );
      return false;
    }
    const k = h.kernel as { release?: unknown; model?: unknown } | undefined;
    if (typeof k?.release !== 'string' || (k.model !== 'old' && k.model !== 'new')) {
      this.fail(
        'header: "kernel" must be {"release": string, "model": "old"|"new"}',
        'DAXMON_E_INPUT_HEADER',
      );
      return false;
    }
    this.sink.header(
      { ...(h as unknown as StreamHeader), kernel: { release: k.release, model: k.model as RefcountModel } },
      0,
    );
    return true;
  }

  private item(): void {
    const tag = this.u8();
    if (tag === TAG_STRING) {
      const n = this.u16();
      this.need(n);
      this.strings.push(this.buf.toString('utf8', this.pos, this.pos + n));
      this.pos += n;
      return;
    }
    const read = READERS[tag];
    if (!read) throw new Corrupt(`unknown item tag ${tag}`);
    const e = read(this);
    if (typeof e.order === 'number' && e.order > MAX_ORDER) {
      throw new Corrupt(`${EVENT_TYPES[tag]}: order ${e.order} is above ${MAX_ORDER}`);
    }
    this.eventNo++;
    this.sink.event(e as unknown as DaxEvent, this.eventNo);
  }

  // The readers the generated per-type functions call (public for them, not an API).
  rUint(name: string): number {
    const v = this.f64();
    if (!(v >= 0 && Number.isSafeInteger(v))) throw new Corrupt(`${name} ${v} is not a non-negative integer`);
    return v;
  }

  rInt(name: string): number {
    const v = this.f64();
    if (!Number.isSafeInteger(v)) throw new Corrupt(`${name} ${v} is not an integer`);
    return v;
  }

  rStr(): string {
    return this.str();
  }

  rBool(): boolean {
    return this.u8() !== 0;
  }

  rBoolN(): boolean | null {
    const v = this.u8();
    return v === 2 ? null : v !== 0;
  }

  rUintN(name: string): number | null {
    return this.u8() === 0 ? null : this.rUint(name);
  }

  rIntN(name: string): number | null {
    return this.u8() === 0 ? null : this.rInt(name);
  }

  rStrN(): string | null {
    this.need(4);
    if (this.buf.readUInt32LE(this.pos) === NULL_STR) {
      this.pos += 4;
      return null;
    }
    return this.str();
  }

  rEnum(values: readonly string[], name: string): string {
    const v = values[this.u8()];
    if (v === undefined) throw new Corrupt(`${name}: enum index out of range`);
    return v;
  }

  rRange(): { pfn: number; nrPages: number } {
    return this.range();
  }

  rRanges(name: string): { pfn: number; nrPages: number }[] {
    const n = this.u16();
    if (n === 0) throw new Corrupt(`${name}: no ranges`);
    const out = new Array<{ pfn: number; nrPages: number }>(n);
    for (let i = 0; i < n; i++) out[i] = this.range();
    return out;
  }

  rPresent(): boolean {
    return this.u8() !== 0;
  }

  rStack(): string[] | undefined {
    if (this.u8() !== 1) return undefined;
    const n = this.u16();
    const stack = new Array<string>(n);
    for (let i = 0; i < n; i++) stack[i] = this.str();
    return stack;
  }

  private range(): { pfn: number; nrPages: number } {
    const pfn = this.f64();
    const nrPages = this.f64();
    if (!(pfn >= 0 && Number.isSafeInteger(pfn) && nrPages > 0 && Number.isSafeInteger(nrPages))) {
      throw new Corrupt('range: pfn and nrPages must be integers, nrPages > 0');
    }
    return { pfn, nrPages };
  }

  private str(): string {
    this.need(4);
    const i = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    const s = this.strings[i];
    if (s === undefined) throw new Corrupt(`string index ${i} was never defined`);
    return s;
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw NEED_MORE;
  }

  private u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  private u16(): number {
    this.need(2);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  private f64(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }
}
