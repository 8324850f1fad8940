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
  /** A line that could not be used. `fatal` errors mean the rest of the stream cannot be trusted. */
  error(message: string, line: number, fatal: boolean): void;
}

/** Largest line accepted; longer is a corrupt file, not an event. */
export const MAX_LINE_BYTES = 1 << 20;

export class NdjsonDecoder {
  private carry = '';
  private lineNo = 0;
  private sawHeader = false;
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
    const text = this.carry + (typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      this.line(text, start, nl);
      if (this.stopped) return;
      start = nl + 1;
    }
    this.carry = start === 0 ? text : text.slice(start);
    if (this.carry.length > MAX_LINE_BYTES) {
      this.lineNo++;
      this.sink.error(`line longer than ${MAX_LINE_BYTES} bytes; skipped`, this.lineNo, false);
      this.carry = '';
      this.skipToNewline = true;
    }
  }

  private skipToNewline = false;

  /** End of input: a final line without a newline is still a line (a torn write is reported). */
  end(): void {
    if (this.stopped) return;
    if (this.carry.length > 0) {
      const text = this.carry;
      this.carry = '';
      this.line(text, 0, text.length);
    }
    if (!this.sawHeader && this.lineNo === 0) this.sink.error('empty input: no header line', 0, true);
  }

  private line(text: string, start: number, end: number): void {
    this.lineNo++;
    if (this.skipToNewline) {
      this.skipToNewline = false;
      return;
    }
    let s = start;
    let e = end;
    if (e > s && text.charCodeAt(e - 1) === 13) e--; // CRLF
    while (s < e && (text.charCodeAt(s) === 32 || text.charCodeAt(s) === 9)) s++;
    if (s === e) return; // blank lines are allowed
    const src = start === 0 && end === text.length && s === 0 && e === end ? text : text.slice(s, e);
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
        `unsupported schema version ${JSON.stringify(schema)}: this daxmon reads schema ${SCHEMA_VERSION}`,
        this.lineNo,
        true,
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
      );
      this.stopped = true;
      return;
    }
    this.sink.header(h as unknown as StreamHeader, this.lineNo);
  }
}
