import { describe, expect, it } from 'vitest';
import { NdjsonDecoder, encodeEvent, encodeHeader, type StreamHeader } from '../../src/events/ndjson.js';
import { EVENT_SCHEMA, validateEvent } from '../../src/events/schema.js';
import { EVENT_TYPES, type DaxEvent } from '../../src/events/types.js';
import { SAMPLE_EVENTS } from '../helpers/samples.js';

describe('event schema', () => {
  it('has a spec for every event type and a sample of every type validates', () => {
    expect(Object.keys(EVENT_SCHEMA).sort()).toEqual([...EVENT_TYPES].sort());
    expect(SAMPLE_EVENTS.map((e) => e.type).sort()).toEqual([...EVENT_TYPES].sort());
    for (const e of SAMPLE_EVENTS) expect(validateEvent(e), e.type).toEqual({ ok: true, event: e });
  });

  it('names the missing field', () => {
    const { pfn: _pfn, ...rest } = SAMPLE_EVENTS.find((e) => e.type === 'folio_map') as unknown as Record<
      string,
      unknown
    >;
    expect(validateEvent(rest)).toEqual({ ok: false, error: 'folio_map: missing field "pfn"' });
  });

  it('rejects wrong kinds, unknown types, unknown fields, absurd orders', () => {
    const map = SAMPLE_EVENTS.find((e) => e.type === 'folio_map')!;
    expect(validateEvent({ ...map, pfn: -1 })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/"pfn" must be a non-negative integer/),
    });
    expect(validateEvent({ ...map, pfn: 1.5 })).toMatchObject({ ok: false });
    expect(validateEvent({ ...map, via: 'vmf_insert_page' })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/"via" must be one of/),
    });
    expect(validateEvent({ ...map, refcnt: 1 })).toEqual({
      ok: false,
      error: 'folio_map: unknown field refcnt',
    });
    expect(validateEvent({ ...map, order: 40 })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/at most 18/),
    });
    expect(validateEvent({ ...map, type: 'folio_mapped' })).toEqual({
      ok: false,
      error: 'unknown event type "folio_mapped"',
    });
    expect(validateEvent([])).toMatchObject({ ok: false });
    expect(validateEvent({ ...map, stack: ['a', 3] })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/stack/),
    });
    const reg = SAMPLE_EVENTS.find((e) => e.type === 'pgmap_registered')!;
    expect(validateEvent({ ...reg, ranges: [] })).toMatchObject({ ok: false });
    expect(validateEvent({ ...reg, ranges: [{ pfn: 1, nrPages: 0 }] })).toMatchObject({ ok: false });
  });
});

function decodeAll(text: string | Buffer[], h?: (h: StreamHeader) => void) {
  const events: DaxEvent[] = [];
  const errors: [number, string, boolean][] = [];
  const d = new NdjsonDecoder({
    header: (x) => h?.(x),
    event: (e) => events.push(e),
    error: (m, l, f) => errors.push([l, m, f]),
  });
  for (const c of typeof text === 'string' ? [text] : text) d.push(c);
  d.end();
  return { events, errors };
}

describe('NDJSON codec', () => {
  const header = encodeHeader({
    created: '2026-11-25T00:00:00Z',
    kernel: { release: '7.3.4', model: 'new' },
  });
  const body = SAMPLE_EVENTS.map(encodeEvent).join('');

  it('round-trips every event type', () => {
    let got: StreamHeader | null = null;
    const r = decodeAll(header + body, (h) => (got = h));
    expect(r.errors).toEqual([]);
    expect(r.events).toEqual(SAMPLE_EVENTS);
    expect(got).toMatchObject({ daxmon: 'events', schema: 1, kernel: { model: 'new' } });
  });

  it('decodes the same whatever the chunking, byte by byte included', () => {
    const buf = Buffer.from(header + body);
    const chunks: Buffer[] = [];
    for (let i = 0; i < buf.length; i += 7) chunks.push(buf.subarray(i, i + 7));
    expect(decodeAll(chunks).events).toEqual(SAMPLE_EVENTS);
  });

  it('keeps going after a bad line and names its line number', () => {
    const lines = (header + body).split('\n');
    lines.splice(3, 0, '{"type":"folio_map"', 'not json at all');
    const r = decodeAll(lines.join('\n'));
    expect(r.events).toHaveLength(SAMPLE_EVENTS.length);
    expect(r.errors.map(([l, , f]) => [l, f])).toEqual([
      [4, false],
      [5, false],
    ]);
  });

  it('accepts CRLF and blank lines; reports a missing trailing newline only if the line is bad', () => {
    const text = (header + body).replace(/\n/g, '\r\n') + '\r\n\r\n';
    expect(decodeAll(text).errors).toEqual([]);
    const torn = header + body + '{"type":"gup","t":1';
    const r = decodeAll(torn);
    expect(r.events).toHaveLength(SAMPLE_EVENTS.length);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]![1]).toMatch(/not valid JSON/);
  });

  it('stops on an unsupported schema version', () => {
    const r = decodeAll('{"daxmon":"events","schema":99,"kernel":{"release":"x","model":"new"}}\n' + body);
    expect(r.events).toEqual([]);
    expect(r.errors).toEqual([[1, expect.stringMatching(/unsupported schema version 99/), true]]);
  });

  it('reports a missing header but still reads the events', () => {
    const r = decodeAll(body);
    expect(r.errors[0]).toEqual([1, expect.stringMatching(/missing header/), false]);
    expect(r.events).toHaveLength(SAMPLE_EVENTS.length);
  });

  it('reports empty input as fatal', () => {
    expect(decodeAll('').errors).toEqual([[0, 'empty input: no header line', true]]);
    // a BOM, blank lines: still nothing to read, the same fatal error
    for (const text of ['\uFEFF', '\uFEFF\n', '\uFEFF\r\n \t\n\n'])
      expect(decodeAll(text).errors, JSON.stringify(text)).toEqual([
        [0, 'empty input: no header line', true],
      ]);
  });
});
