/**
 * The NDJSON decoder splits lines on bytes and decodes whole lines (issue 13, item 4): line
 * numbers do not drift after a line longer than a read chunk, an over-long line is one error
 * however many chunks it spans, a UTF-8 character cut by a chunk boundary survives (from a file
 * and from a stream such as stdin), and a UTF-8 byte order mark before the header is accepted.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_LINE_BYTES, NdjsonDecoder, encodeHeader } from '../../src/events/ndjson.js';
import type { DaxEvent } from '../../src/events/types.js';
import { replay } from '../../src/replay.js';

const HEADER = encodeHeader({ created: '2026-12-03T00:00:00Z', kernel: { release: '7.3.4', model: 'new' } });
const idle = (comm: string, pfn = 0x140000): string =>
  JSON.stringify({ type: 'folio_idle', t: 1, pid: 1, comm, pfn, order: 0, refcount: 1 }) + '\n';

/** What the decoder makes of `bytes` pushed in pieces of `chunk` bytes (or at the given cuts). */
function decode(bytes: Buffer, cut: number | number[]) {
  const events: DaxEvent[] = [];
  const errors: [number, string][] = [];
  let header = 0;
  const d = new NdjsonDecoder({
    header: () => header++,
    event: (e) => events.push(e),
    error: (m, l) => errors.push([l, m]),
  });
  const cuts =
    typeof cut === 'number'
      ? Array.from({ length: Math.ceil(bytes.length / cut) }, (_, i) => i * cut)
      : [0, ...cut];
  for (let i = 0; i < cuts.length; i++) d.push(bytes.subarray(cuts[i], cuts[i + 1] ?? bytes.length));
  d.end();
  return { events, errors, header };
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxmon-ndjson-lines-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('NDJSON lines are split on bytes', () => {
  it('a bad line after a line longer than the read chunk keeps its own number (3, not 4)', async () => {
    const long = '{"x":"' + 'a'.repeat(MAX_LINE_BYTES + 500_000) + '"}\n';
    const bytes = Buffer.from(HEADER + long + '{"type":\n' + idle('ok'));
    // Pushed as 1 MiB chunks (the file reader's), and read from a file by replay itself.
    const r = decode(bytes, 1 << 20);
    expect(r.errors).toEqual([
      [2, `line longer than ${MAX_LINE_BYTES} bytes; skipped`],
      [3, expect.stringMatching(/^not valid JSON/)],
    ]);
    expect(r.events).toHaveLength(1);
    const file = path.join(dir, 'long.ndjson');
    fs.writeFileSync(file, bytes);
    const replayed = await replay(file);
    expect(replayed.errors.map((e) => e.line)).toEqual([2, 3]);
    expect(replayed.events).toBe(1);
  });

  it('a 10 MB line is one error, whatever the chunks', () => {
    const bytes = Buffer.from(HEADER + '"' + 'b'.repeat(10_000_000) + '"\n' + idle('after'));
    for (const chunk of [1 << 20, 65_536, 3_333_333, bytes.length]) {
      const r = decode(bytes, chunk);
      expect(r.errors).toEqual([[2, `line longer than ${MAX_LINE_BYTES} bytes; skipped`]]);
      expect(r.events.map((e) => e.comm)).toEqual(['after']);
    }
    // Also as the last line, without a newline.
    expect(decode(bytes.subarray(0, HEADER.length + 10_000_002), 1 << 20).errors).toHaveLength(1);
  });

  it('a line of exactly MAX_LINE_BYTES bytes is read; one byte more is refused, counted in UTF-8 bytes', () => {
    /** A folio_idle line of exactly `len` bytes without its newline, its comm made of `ch`. */
    const event = (len: number, ch: string) => {
      const n = len - (Buffer.byteLength(idle('')) - 1);
      const k = Math.floor(n / Buffer.byteLength(ch));
      return idle(ch.repeat(k) + 'a'.repeat(n - k * Buffer.byteLength(ch)));
    };
    for (const ch of ['a', '€']) {
      const fits = event(MAX_LINE_BYTES, ch);
      const over = event(MAX_LINE_BYTES + 1, ch);
      expect(Buffer.byteLength(over)).toBe(MAX_LINE_BYTES + 2);
      for (const chunk of [1 << 16, 1 << 21]) {
        expect(decode(Buffer.from(HEADER + fits), chunk).errors).toEqual([]);
        expect(decode(Buffer.from(HEADER + over), chunk).errors).toEqual([
          [2, `line longer than ${MAX_LINE_BYTES} bytes; skipped`],
        ]);
      }
    }
  });

  it('a UTF-8 character cut by a chunk boundary is decoded whole (€ stays €), at every cut', () => {
    const bytes = Buffer.from(HEADER + idle('x€y😀z') + idle('€'));
    for (let cut = 1; cut < bytes.length; cut++) {
      const r = decode(bytes, [cut]);
      expect(r.errors).toEqual([]);
      expect(r.events.map((e) => e.comm)).toEqual(['x€y😀z', '€']);
    }
  });

  it('from a stream (stdin) and from a file too', async () => {
    const bytes = Buffer.from(HEADER + idle('€€€'));
    const at = bytes.indexOf(Buffer.from('€')) + 1; // inside the first €
    const seen: string[] = [];
    const r = await replay(Readable.from([bytes.subarray(0, at), bytes.subarray(at)]), {
      onEvent: (e) => seen.push(e.comm),
    });
    expect(r.errors).toEqual([]);
    expect(seen).toEqual(['€€€']);
    // A file whose 1 MiB read chunks end inside a €.
    const pad = (1 << 20) - Buffer.byteLength(HEADER) - 20;
    const file = path.join(dir, 'euro.ndjson');
    fs.writeFileSync(file, HEADER + ' '.repeat(pad) + '\n' + idle('€'.repeat(20)));
    const fromFile: string[] = [];
    const f = await replay(file, { onEvent: (e) => fromFile.push(e.comm) });
    expect(f.errors).toEqual([]);
    expect(fromFile).toEqual(['€'.repeat(20)]);
  });

  it('a UTF-8 byte order mark before the header is accepted (and only there)', () => {
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(HEADER + idle('bom'))]);
    for (const cut of [1, 2, 3, 4]) {
      const r = decode(withBom, [cut]);
      expect(r).toMatchObject({ header: 1, errors: [] });
      expect(r.events.map((e) => e.comm)).toEqual(['bom']);
    }
    const later = decode(Buffer.from(HEADER + '\ufeff' + idle('x')), 1 << 20);
    expect(later.errors).toEqual([[2, expect.stringMatching(/^not valid JSON/)]]);
  });
});
