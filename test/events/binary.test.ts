import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BINARY_MAGIC, BinaryDecoder, BinaryEncoder } from '../../src/events/binary.js';
import type { DecodeSink, StreamHeader } from '../../src/events/ndjson.js';
import { createRecordingDecoder } from '../../src/events/recording.js';
import { COMMON, EVENT_SCHEMA, validateEvent, type Kind } from '../../src/events/schema.js';
import { EVENT_TYPES, type DaxEvent } from '../../src/events/types.js';
import { replay } from '../../src/replay.js';
import { STREAM_DIR } from '../fixtures/make-streams.js';

const HEADER = { created: '2026-11-25T00:00:00.000Z', kernel: { release: '7.3.4', model: 'new' as const } };

interface Decoded {
  header: StreamHeader | null;
  events: DaxEvent[];
  errors: { message: string; line: number; fatal: boolean }[];
}

function sink(): DecodeSink & Decoded {
  const d: Decoded = { header: null, events: [], errors: [] };
  return Object.assign(d, {
    header(h: StreamHeader) {
      d.header = h;
    },
    event(e: DaxEvent) {
      d.events.push(e);
    },
    error(message: string, line: number, fatal: boolean) {
      d.errors.push({ message, line, fatal });
    },
  });
}

function encode(events: DaxEvent[]): Buffer {
  const enc = new BinaryEncoder();
  return Buffer.concat([enc.header(HEADER), enc.events(events)]);
}

function decode(...chunks: Buffer[]): Decoded {
  const s = sink();
  const d = new BinaryDecoder(s);
  for (const c of chunks) d.push(c);
  d.end();
  return s;
}

/** One event of every type, every field set from its kind: nullables both null and not. */
function samples(): DaxEvent[] {
  const value = (k: Kind, variant: number): unknown => {
    if (typeof k === 'object') return k.enum[variant % k.enum.length];
    switch (k) {
      case 'uint':
        return 2 ** 40 + variant;
      case 'int':
        return -3 - variant;
      case 'str':
        return `s-${variant}-ü`;
      case 'bool':
        return variant % 2 === 0;
      case 'bool?':
        return variant === 0 ? null : variant === 1;
      case 'uint?':
        return variant === 0 ? null : 9 + variant;
      case 'int?':
        return variant === 0 ? null : -9;
      case 'str?':
        return variant === 0 ? null : 'SIGKILL';
      case 'range':
        return { pfn: 1_310_720 + variant, nrPages: 262_144 };
      case 'ranges':
        return [
          { pfn: 1_310_720, nrPages: 512 },
          { pfn: 1_400_000 + variant, nrPages: 1 },
        ].slice(0, 1 + (variant % 2));
    }
  };
  const out: DaxEvent[] = [];
  for (const type of EVENT_TYPES) {
    for (const variant of [0, 1, 2]) {
      const e: Record<string, unknown> = { type };
      for (const f of [...COMMON, ...EVENT_SCHEMA[type]]) {
        if (f.optional && variant === 2) continue;
        e[f.name] = f.name === 'order' ? variant * 9 : value(f.kind, variant);
      }
      if (variant === 1) e.stack = ['free_zone_device_folio+0x0', '__folio_put+0x5e'];
      const v = validateEvent(e);
      if (!v.ok) throw new Error(`sample ${type}/${variant}: ${v.error}`);
      out.push(v.event);
    }
  }
  return out;
}

describe('binary recordings', () => {
  it('every event type, with and without its optional and nullable fields, survives a round trip', () => {
    const events = samples();
    const d = decode(encode(events));
    expect(d.errors).toEqual([]);
    expect(d.header).toMatchObject({ daxmon: 'events', schema: 1, kernel: HEADER.kernel });
    expect(d.events).toEqual(events);
    for (const e of d.events) expect(validateEvent(e).ok).toBe(true);
  });

  it('is the same stream whatever byte boundaries it arrives in', () => {
    const events = samples().slice(0, 12);
    const bytes = encode(events);
    for (let i = 0; i <= bytes.length; i += 7) {
      const d = decode(bytes.subarray(0, i), bytes.subarray(i));
      expect(d.errors, `split at ${i}`).toEqual([]);
      expect(d.events, `split at ${i}`).toEqual(events);
    }
    const s = sink();
    const dec = new BinaryDecoder(s);
    for (let i = 0; i < bytes.length; i++) dec.push(bytes.subarray(i, i + 1));
    dec.end();
    expect(s.events).toEqual(events);
  });

  it('replays every fixture to the same events, state and violations as its NDJSON', async () => {
    const files = fs.readdirSync(STREAM_DIR).filter((f) => f.endsWith('.ndjson'));
    expect(files.length).toBeGreaterThan(20);
    for (const f of files) {
      const text = fs.readFileSync(path.join(STREAM_DIR, f));
      const seen: DaxEvent[] = [];
      const a = await replay(text, { onEvent: (e) => seen.push(e) });
      const enc = new BinaryEncoder();
      const bin = Buffer.concat([enc.header(a.header!), enc.events(seen)]);
      expect(bin.length, f).toBeLessThan(text.length);
      const seenBin: DaxEvent[] = [];
      const b = await replay(bin, { onEvent: (e) => seenBin.push(e) });
      expect(b.errors, f).toEqual([]);
      expect(b.model, f).toBe(a.model);
      expect(seenBin, f).toEqual(seen);
      const strip = (vs: typeof a.violations) => vs.map((v) => ({ ...v, time: '' })); // wall clock of detection
      expect(strip(b.violations), f).toEqual(strip(a.violations));
      expect(b.pipeline.state.folios.size, f).toBe(a.pipeline.state.folios.size);
    }
  });

  it('a torn last event is reported with its byte offset; the events before it are kept', () => {
    const events = samples().slice(0, 5);
    const bytes = encode(events);
    const d = decode(bytes.subarray(0, bytes.length - 3));
    expect(d.events).toEqual(events.slice(0, 4));
    expect(d.errors).toHaveLength(1);
    expect(d.errors[0]).toMatchObject({ line: 5, fatal: false });
    expect(d.errors[0]!.message).toMatch(/^truncated event at byte \d+/);
  });

  it('a corrupt item stops decoding with a fatal error naming the byte; earlier events are kept', () => {
    const events = samples().slice(0, 4);
    const good = encode(events);
    const d = decode(Buffer.concat([good, Buffer.from([0xf0, 1, 2, 3])]));
    expect(d.events).toEqual(events);
    expect(d.errors).toEqual([
      {
        message: `unknown item tag 240 at byte ${good.length}; the rest of the recording is unreadable`,
        line: 5,
        fatal: true,
      },
    ]);
  });

  it('checks what the bytes cannot guarantee: integers, string indexes, orders', () => {
    const enc = new BinaryEncoder();
    const head = enc.header(HEADER);
    const idle: DaxEvent = { type: 'folio_idle', t: 1, pid: 2, comm: 'x', pfn: 5, order: 0, refcount: 0 };
    const body = enc.event(idle);
    // comm "x" is defined first (0xfe, u16 1, "x"), then the event: tag, t f64, pid f64, comm u32…
    const at = 4 + 1 + 8; // the pid field
    const negPid = Buffer.from(body);
    negPid.writeDoubleLE(-1, at);
    expect(decode(head, negPid).errors[0]!.message).toMatch(/^pid -1 is not a non-negative integer at byte/);
    const badStr = Buffer.from(body);
    badStr.writeUInt32LE(77, at + 8);
    expect(decode(head, badStr).errors[0]!.message).toMatch(/^string index 77 was never defined/);
    const bigOrder = Buffer.from(body);
    bigOrder.writeDoubleLE(40, at + 8 + 4 + 8);
    expect(decode(head, bigOrder).errors[0]!.message).toMatch(/order 40 is above 18/);
  });

  it('refuses a foreign file, another schema version, and an empty input, clearly', () => {
    const other = Buffer.concat([Buffer.from('NOTDAXMN'), Buffer.alloc(8)]);
    expect(decode(other).errors).toEqual([
      { message: 'not a daxmon binary recording (no DAXMONB1 magic)', line: 1, fatal: true },
    ]);
    const json = Buffer.from(JSON.stringify({ daxmon: 'events', schema: 99, kernel: HEADER.kernel }));
    const len = Buffer.alloc(4);
    len.writeUInt32LE(json.length);
    const v99 = decode(Buffer.concat([BINARY_MAGIC, len, json]));
    expect(v99.errors[0]).toMatchObject({ fatal: true });
    expect(v99.errors[0]!.message).toMatch(/^unsupported schema version 99: this daxmon reads schema 1$/);
    expect(decode().errors).toEqual([{ message: 'empty input: no header', line: 1, fatal: true }]);
    expect(decode(BINARY_MAGIC.subarray(0, 8)).errors[0]!.message).toMatch(/^truncated header/);
  });

  it('the format is sniffed: NDJSON and binary both decode through one entry point', () => {
    const events = samples().slice(0, 3);
    const bin = encode(events);
    for (const split of [1, 3, 8, 20]) {
      const s = sink();
      const d = createRecordingDecoder(s);
      d.push(bin.subarray(0, split));
      d.push(bin.subarray(split));
      d.end();
      expect(d.format).toBe('binary');
      expect(s.events).toEqual(events);
    }
    const s = sink();
    const d = createRecordingDecoder(s);
    d.push(
      Buffer.from(`{"daxmon":"events","schema":1,"created":"x","kernel":{"release":"r","model":"old"}}\n`),
    );
    d.end();
    expect(d.format).toBe('ndjson');
    expect(s.header?.kernel.model).toBe('old');
  });
});
