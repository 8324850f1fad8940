/**
 * The recorded-stream format: NDJSON, one header line then one event per line.
 *
 *   {"daxmon":"events","schema":1,"created":"…","kernel":{"release":"…","model":"new"},…}
 *   {"type":"pgmap_registered","t":…,"pid":…,"comm":"…",…}
 *
 * The decoder is push-based over byte chunks (no readline, no per-line Promise) so that replay
 * runs at the speed of JSON.parse. Every problem is reported with its 1-based line number and
 * decoding goes on with the next line; the caller decides whether an error is fatal (`--strict`).
 */
import type { DaxEvent, RefcountModel } from './types.js';
import type { ErrorCode } from '../errors/catalogue.js';
import { validateEvent } from './schema.js';

export const SCHEMA_VERSION = 1;

export interface StreamHeader {
  daxmon: 'events';
  schema: number;
  created: string;
  kernel: { release: string; model: RefcountModel };
  /** Backend(s) that produced the stream, informational. */
  source?: string;
  hostname?: string;
  /**
   * Written by the live daemon (docs/events.md "Replay equals live"): `clock: "recorded"` says the
   * daemon's ticks are in the stream as clock_tick events (replay adds no tick of its own);
   * `confirms` names the checks whose candidates the stream's confirmation events decide;
   * `checkConfig` the thresholds the live checks ran with.
   */
  clock?: 'recorded';
  confirms?: string[];
  checkConfig?: Record<string, number>;
}

export function encodeHeader(h: Omit<StreamHeader, 'daxmon' | 'schema'>): string {
  const header: StreamHeader = { daxmon: 'events', schema: SCHEMA_VERSION, ...h };
  return JSON.stringify(header) + '\n';
}

export function encodeEvent(e: DaxEvent): string {
  return JSON.stringify(e) + '\n';
}

export interface DecodeSink {
  header(h: StreamHeader, line: number): void;
  event(e: DaxEvent, line: number): void;
  /**
   * A line that could not be used. `fatal` errors mean the rest of the stream cannot be trusted;
   * they carry the catalogue code that says why (src/errors/catalogue.ts).
   */
  error(message: string, line: number, fatal: boolean, code?: InputErrorCode): void;
}

/** The codes a decoder's fatal errors carry. */
export type InputErrorCode = Extract<ErrorCode, `DAXMON_E_INPUT${string}`>;

/** Largest line accepted (its UTF-8 bytes); longer is a corrupt file, not an event. */
export const MAX_LINE_BYTES = 1 << 20;

const NL = 0x0a;
/** A UTF-8 byte order mark, as it decodes: some editors put one before the header line. */
const BOM = 0xfeff;

/**
 * Whether text[start, end) is longer than MAX_LINE_BYTES in UTF-8. The rule is on the decoded
 * line, so that it does not depend on how the line was chunked; for valid UTF-8 it is the line's
 * byte count. A line of n UTF-16 units is n to 3n bytes: only lines in between are measured.
 */
function tooLong(text: string, start: number, end: number): boolean {
  const n = end - start;
  if (n > MAX_LINE_BYTES) return true;
  if (n * 3 <= MAX_LINE_BYTES) return false;
  return Buffer.byteLength(text.slice(start, end), 'utf8') > MAX_LINE_BYTES;
}

/**
 * Lines are split on the newline byte and each line is decoded whole, so that neither a read
 * chunk boundary nor a line longer than a chunk can move a line number or cut a UTF-8 character
 * (0x0A never occurs inside a multi-byte sequence). The bytes between a chunk's first and last
 * newline are decoded with one toString() and split as a string, as fast as before; only the
 * line that spans chunks is assembled from bytes.
 */
export class NdjsonDecoder {
  /** Bytes of the line that has started but not ended, in the chunks they came in. */
  private carry: Buffer[] = [];
  private carryBytes = 0;
  /** Inside a line already reported as too long: drop bytes up to its newline. */
  private skipping = false;
  private lineNo = 0;
  private sawHeader = false;
  /** A line with more than a BOM and blanks: without one the input is empty, however many lines. */
  private sawContent = false;
  private stopped = false;

  constructor(private readonly sink: DecodeSink) {}

  get lines(): number {
    return this.lineNo;
  }

  /** Stop decoding (after a fatal error, or `--strict` on the first bad line). */
  stop(): void {
    this.stopped = true;
  }

  push(chunk: Buffer | string): void {
    if (this.stopped) return;
    const b = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    let pos = 0;
    if (this.skipping || this.carryBytes > 0) {
      const nl = b.indexOf(NL);
      if (nl < 0) {
        this.hold(b, 0);
        return;
      }
      if (this.skipping) {
        this.skipping = false;
      } else {
        this.carry.push(b.subarray(0, nl));
        const text = Buffer.concat(this.carry, this.carryBytes + nl).toString('utf8');
        this.carry = [];
        this.carryBytes = 0;
        if (tooLong(text, 0, text.length)) this.tooLong();
        else this.line(text, 0, text.length);
        if (this.stopped) return;
      }
      pos = nl + 1;
    }
    const last = b.lastIndexOf(NL);
    if (last >= pos) {
      const text = b.toString('utf8', pos, last + 1);
      let start = 0;
      for (;;) {
        const nl = text.indexOf('\n', start);
        if (nl < 0) break;
        if (tooLong(text, start, nl)) this.tooLong();
        else this.line(text, start, nl);
        if (this.stopped) return;
        start = nl + 1;
      }
      pos = last + 1;
    }
    if (pos < b.length) this.hold(b, pos);
  }

  /** Keep b[from..] as the start of the next line (copied: a caller may reuse its buffer). */
  private hold(b: Buffer, from: number): void {
    if (this.skipping) return;
    const n = b.length - from;
    if (this.carryBytes + n > MAX_LINE_BYTES) {
      this.carry = [];
      this.carryBytes = 0;
      this.tooLong();
      this.skipping = true;
      return;
    }
    this.carry.push(Buffer.from(b.subarray(from)));
    this.carryBytes += n;
  }

  /** One line, counted once and reported once however many chunks it spans. */
  private tooLong(): void {
    this.lineNo++;
    this.sawContent = true;
    this.sink.error(`line longer than ${MAX_LINE_BYTES} bytes; skipped`, this.lineNo, false);
  }

  /** End of input: a final line without a newline is still a line (a torn write is reported). */
  end(): void {
    if (this.stopped) return;
    if (this.carryBytes > 0) {
      const text = Buffer.concat(this.carry, this.carryBytes).toString('utf8');
      this.carry = [];
      this.carryBytes = 0;
      if (tooLong(text, 0, text.length)) this.tooLong();
      else this.line(text, 0, text.length);
    }
    this.skipping = false;
    if (!this.sawHeader && !this.sawContent)
      this.sink.error('empty input: no header line', 0, true, 'DAXMON_E_INPUT_EMPTY');
  }

  /** text[start, end) is one line, without its newline. */
  private line(text: string, start: number, end: number): void {
    this.lineNo++;
    let s = start;
    let e = end;
    if (e > s && text.charCodeAt(e - 1) === 13) e--; // CRLF
    if (this.lineNo === 1 && s < e && text.charCodeAt(s) === BOM) s++;
    while (s < e && (text.charCodeAt(s) === 32 || text.charCodeAt(s) === 9)) s++;
    if (s === e) return; // blank lines are allowed
    this.sawContent = true;
    const src = s === 0 && e === text.length ? text : text.slice(s, e);
    let v: unknown;
    try {
      v = JSON.parse(src);
    } catch (err) {
      this.sink.error(`not valid JSON (${(err as Error).message})`, this.lineNo, false);
      return;
    }
    if (!this.sawHeader) {
      this.sawHeader = true;
      if (typeof v === 'object' && v !== null && (v as { daxmon?: unknown }).daxmon === 'events') {
        this.header(v as Record<string, unknown>);
        return;
      }
      this.sink.error(
        'missing header: the first line of a daxmon stream is {"daxmon":"events","schema":1,…}',
        this.lineNo,
        false,
      );
    }
    const r = validateEvent(v);
    if (r.ok) this.sink.event(r.event, this.lineNo);
    else this.sink.error(r.error, this.lineNo, false);
  }

  private header(h: Record<string, unknown>): void {
    const schema = h.schema;
    if (schema !== SCHEMA_VERSION) {
      this.sink.error(
        `unsupported schema version ${JSON.stringify(schema) ?? 'undefined'}: this daxmon reads schema ${SCHEMA_VERSION}`,
        this.lineNo,
        true,
        'DAXMON_E_INPUT_SCHEMA',
      );
      this.stopped = true;
      return;
    }
    const kernel = h.kernel as { release?: unknown; model?: unknown } | undefined;
    if (
      typeof kernel !== 'object' ||
      kernel === null ||
      typeof kernel.release !== 'string' ||
      (kernel.model !== 'old' && kernel.model !== 'new')
    ) {
      this.sink.error(
        'header: "kernel" must be {"release": string, "model": "old"|"new"}',
        this.lineNo,
        true,
        'DAXMON_E_INPUT_HEADER',
      );
      this.stopped = true;
      return;
    }
    this.sink.header(h as unknown as StreamHeader, this.lineNo);
  }
}
