/**
 * Fuzzing both recording codecs (src/events/ndjson.ts, src/events/binary.ts, told apart by
 * src/events/recording.ts) and replay as a whole (issue 13). Properties:
 *   - decoding never throws, whatever the bytes: arbitrary bytes, bytes after a valid header,
 *     mutated valid recordings of both formats;
 *   - what is decoded (events, errors with their line numbers) does not depend on how the input
 *     was chunked: split at random points, byte by byte included;
 *   - `daxmon replay` (runReplay, through the live pipeline) never fails with anything but a
 *     DaxmonError of a catalogued code: it never exits 70, also for events that pass validation
 *     with values a backend would never send.
 * Every file of test/fuzz/corpus/recording/ is replayed first.
 */
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { runReplay } from '../../src/commands/replay.js';
import { isDaxmonError, isErrorCode } from '../../src/errors.js';
import { BinaryEncoder } from '../../src/events/binary.js';
import { encodeEvent, encodeHeader, type DecodeSink } from '../../src/events/ndjson.js';
import { createRecordingDecoder } from '../../src/events/recording.js';
import { COMMON, EVENT_SCHEMA, type FieldSpec } from '../../src/events/schema.js';
import { EVENT_TYPES, type DaxEvent } from '../../src/events/types.js';
import { SAMPLE_EVENTS } from '../helpers/samples.js';
import { corpus, fuzz, fuzzAsync } from './budget.js';

const runs = { runs: 0 };
afterAll(() => console.log(`recording fuzz: ${runs.runs} cases run`));

const HEADER = { created: '2026-12-03T00:00:00Z', kernel: { release: '7.3.4', model: 'new' as const } };
const NDJSON_HEADER = Buffer.from(encodeHeader(HEADER));
const BINARY_HEADER = new BinaryEncoder().header(HEADER);

interface Decoded {
  header: number;
  events: DaxEvent[];
  errors: [number, string, boolean, string | undefined][];
}

/** Everything the decoder said about `chunks`, in order. */
function decode(chunks: Buffer[]): Decoded {
  const d: Decoded = { header: 0, events: [], errors: [] };
  const sink: DecodeSink = {
    header: () => d.header++,
    event: (e) => d.events.push(e),
    error: (m, l, f, c) => d.errors.push([l, m, f, c]),
  };
  const dec = createRecordingDecoder(sink);
  for (const c of chunks) dec.push(c);
  dec.end();
  return d;
}

/** `bytes` cut at `cuts` (positions, any order, duplicates allowed). */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, bytes.length]) {
    out.push(bytes.subarray(prev, c));
    prev = c;
  }
  return out;
}

const quiet = () =>
  new Writable({
    write(_c, _e, cb) {
      cb();
    },
  });

/** runReplay on `bytes`: its exit status; anything thrown must be a catalogued DaxmonError. */
async function replayExit(bytes: Buffer, strict = false): Promise<number> {
  try {
    const code = await runReplay('fuzz', {
      json: false,
      strict,
      failOnViolation: false,
      checkConfig: {},
      out: quiet(),
      err: quiet(),
      input: bytes,
    });
    expect([0, 1, 2, 3]).toContain(code);
    return code;
  } catch (err) {
    if (isDaxmonError(err) && isErrorCode(err.code)) return err.exitCode;
    throw err;
  }
}

function encode(format: 'ndjson' | 'binary', events: readonly DaxEvent[]): Buffer {
  if (format === 'ndjson')
    return Buffer.concat([NDJSON_HEADER, Buffer.from(events.map(encodeEvent).join(''))]);
  const enc = new BinaryEncoder();
  return Buffer.concat([enc.header(HEADER), enc.events(events)]);
}

/** A byte-level mutation of a valid recording: flips, overwrites, inserts, deletions, a cut. */
const mutation = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({
    op: fc.constant('set' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 9 }),
  }),
  fc.record({
    op: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(b: Buffer, ms: Mutation[]): Buffer {
  let out = Buffer.from(b);
  for (const m of ms) {
    const at = out.length === 0 ? 0 : m.at % out.length;
    switch (m.op) {
      case 'flip':
        if (out.length) out[at] = out[at]! ^ (1 << m.bit);
        break;
      case 'set':
        Buffer.from(m.bytes).copy(out, at);
        break;
      case 'insert':
        out = Buffer.concat([out.subarray(0, at), Buffer.from(m.bytes), out.subarray(at)]);
        break;
      case 'delete':
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + m.n)]);
        break;
      case 'truncate':
        out = out.subarray(0, at);
        break;
    }
  }
  return out;
}

/** Text that looks like the pieces of a recording: JSON punctuation, keys, types, UTF-8, BOMs. */
const PIECES = [
  '\n',
  '\r\n',
  '{',
  '}',
  '"',
  ':',
  ',',
  '[',
  ']',
  'null',
  '"type"',
  '"t":1,"pid":1,"comm":"c"',
  '"daxmon":"events","schema":1',
  '"kernel":{"release":"r","model":"new"}',
  ...EVENT_TYPES.map((t) => `"${t}"`),
  '"constructor"',
  '"__proto__"',
  '€',
  '\ufeff',
  '\ud800',
  'DAXMONB1',
];
const recordingText = fc
  .array(fc.oneof(fc.constantFrom(...PIECES), fc.string({ maxLength: 8 })), { maxLength: 60 })
  .map((xs) => Buffer.from(xs.join('')));

/** Object.prototype's names: a lookup keyed by input once took `constructor` for an event type. */
const PROTO_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf'];
const FIELD_NAMES = [...new Set([...COMMON, ...Object.values(EVENT_SCHEMA).flat()].map((f) => f.name))];

/** NDJSON lines of objects: a type (real, prototype name or any), then keys and values of any kind. */
const jsonLines = fc
  .array(
    fc
      .tuple(
        fc.oneof(
          fc.constantFrom(...EVENT_TYPES),
          fc.constantFrom(...PROTO_NAMES),
          fc.string({ maxLength: 6 }),
        ),
        fc.dictionary(
          fc.oneof(fc.constantFrom(...FIELD_NAMES, 'stack', ...PROTO_NAMES), fc.string({ maxLength: 4 })),
          fc.jsonValue({ maxDepth: 2 }),
          { maxKeys: 8 },
        ),
      )
      .map(([type, rest]) => JSON.stringify({ type, t: 1, pid: 1, comm: 'c', ...rest }) + '\n'),
    { maxLength: 6 },
  )
  .map((lines) => Buffer.concat([NDJSON_HEADER, Buffer.from(lines.join(''))]));

/** A value of a schema kind, including the extremes a backend never sends. */
function valueOf(f: FieldSpec): fc.Arbitrary<unknown> {
  const uint = fc.oneof(
    fc.nat(),
    fc.constantFrom(0, 1, 2 ** 32, 2 ** 52, Number.MAX_SAFE_INTEGER),
    fc.maxSafeNat(),
  );
  const int = fc.oneof(
    fc.integer(),
    fc.constantFrom(-1, -(2 ** 31), Number.MIN_SAFE_INTEGER),
    fc.maxSafeInteger(),
  );
  const range = fc.record({
    pfn: uint,
    nrPages: fc.oneof(
      fc.integer({ min: 1, max: 1 << 20 }),
      fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    ),
  });
  const k = f.kind;
  if (typeof k === 'object') return fc.constantFrom(...k.enum);
  switch (k) {
    case 'uint':
      return f.name === 'order' ? fc.integer({ min: 0, max: 18 }) : uint;
    case 'int':
      return int;
    case 'str':
      return fc.oneof(
        fc.string({ maxLength: 12 }),
        fc.constantFrom('0xffff888100a00000', 'pm0', '__proto__'),
      );
    case 'bool':
      return fc.boolean();
    case 'bool?':
      return fc.option(fc.boolean(), { nil: null });
    case 'uint?':
      return fc.option(uint, { nil: null });
    case 'int?':
      return fc.option(int, { nil: null });
    case 'str?':
      return fc.option(fc.string({ maxLength: 8 }), { nil: null });
    case 'range':
      return range;
    case 'ranges':
      return fc.array(range, { minLength: 1, maxLength: 3 });
  }
}

/** Valid events of every type (validation passes) with values from valueOf. */
const validEvent: fc.Arbitrary<DaxEvent> = fc.constantFrom(...EVENT_TYPES).chain((type) => {
  const fields = [...COMMON, ...EVENT_SCHEMA[type]];
  const rec: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of fields) rec[f.name] = valueOf(f);
  const optional = fields.filter((f) => f.optional).map((f) => f.name);
  return fc
    .record(rec, { requiredKeys: fields.filter((f) => !f.optional).map((f) => f.name) })
    .map((o) => ({ type, ...o }) as unknown as DaxEvent)
    .filter(() => optional.length >= 0);
});

describe('the kept corpus', () => {
  const files = corpus('recording');
  it('is not empty', () => expect(files.length).toBeGreaterThan(0));
  it.each(files.map((f) => [f.name, f.bytes] as const))(
    '%s replays without a crash, chunked or not',
    async (_n, bytes) => {
      await replayExit(bytes);
      await replayExit(bytes, true);
      const whole = decode([bytes]);
      expect(decode(split(bytes, [1, 7, 100, 1000]))).toEqual(whole);
      expect(decode([...bytes].map((b) => Buffer.from([b])))).toEqual(whole);
    },
  );
});

describe('both recording codecs, fuzzed', () => {
  it('arbitrary bytes, and bytes after a valid header: the decoders never throw, and chunking changes nothing', () => {
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      recordingText,
      recordingText.map((b) => Buffer.concat([NDJSON_HEADER, b])),
      jsonLines,
      fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.concat([BINARY_HEADER, Buffer.from(a)])),
    );
    fuzz(
      fc.property(input, fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        expect(decode(split(bytes, cuts))).toEqual(decode([bytes]));
      }),
      runs,
    );
  });

  it('mutated valid recordings of both formats: same decoding whatever the chunks', () => {
    fuzz(
      fc.property(
        fc.constantFrom('ndjson' as const, 'binary' as const),
        fc.subarray(SAMPLE_EVENTS, { minLength: 1 }),
        fc.array(mutation, { maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (format, events, ms, cuts) => {
          const bytes = mutate(encode(format, events), ms);
          const whole = decode([bytes]);
          expect(decode(split(bytes, cuts))).toEqual(whole);
          if (ms.length === 0) expect(whole.events).toEqual(events);
        },
      ),
      runs,
    );
  });

  it('replay of arbitrary and mutated recordings never exits 70', async () => {
    const input = fc.oneof(
      jsonLines,
      recordingText.map((b) => Buffer.concat([NDJSON_HEADER, b])),
      fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.concat([BINARY_HEADER, Buffer.from(a)])),
      fc
        .tuple(
          fc.constantFrom('ndjson' as const, 'binary' as const),
          fc.subarray(SAMPLE_EVENTS, { minLength: 1 }),
          fc.array(mutation, { maxLength: 3 }),
        )
        .map(([format, events, ms]) => mutate(encode(format, events), ms)),
    );
    await fuzzAsync(
      fc.asyncProperty(input, fc.boolean(), async (bytes, strict) => {
        await replayExit(bytes, strict);
      }),
      runs,
    );
  });

  it('replay of valid events with extreme values, in either format, never exits 70', async () => {
    await fuzzAsync(
      fc.asyncProperty(
        fc.constantFrom('ndjson' as const, 'binary' as const),
        fc.array(validEvent, { minLength: 1, maxLength: 40 }),
        async (format, events) => {
          const code = await replayExit(encode(format, events));
          // Every event passed validation: no line is bad (string lengths fit the binary format).
          expect(code).toBeLessThan(2);
        },
      ),
      runs,
    );
  });
});
