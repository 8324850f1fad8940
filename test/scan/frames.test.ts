import { describe, expect, it } from 'vitest';
import { FrameReader, SCAN_HEAD, encodePageBatch } from '../../src/scan/frames.js';

function jsonFrame(o: object): Buffer {
  const p = Buffer.from(JSON.stringify(o));
  const h = Buffer.alloc(8);
  h.writeUInt32LE(p.length, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(1, 6);
  return Buffer.concat([h, p]);
}

describe('daxmon-scan frames', () => {
  it('decodes page batches and JSON frames split at any byte', () => {
    const bytes = Buffer.concat([
      jsonFrame({ kind: 'hello', vmemmap_base: true }),
      encodePageBatch(0x140000, [
        { refcount: 1, mapcount: 0, mapping: true },
        { refcount: 3, mapcount: 2, pincount: 1, order: 9, status: SCAN_HEAD },
      ]),
      jsonFrame({ kind: 'done', nr: 2 }),
    ]);
    for (const cut of [1, 7, 8, 30, bytes.length - 3]) {
      const r = new FrameReader();
      const frames = [...r.push(bytes.subarray(0, cut)), ...r.push(bytes.subarray(cut))];
      expect(frames.map((f) => f.kind)).toEqual(['json', 'pages', 'json']);
      const b = frames[1]!.kind === 'pages' ? frames[1]!.batch : null;
      expect(b!.startPfn).toBe(0x140000);
      expect(b!.nr).toBe(2);
      expect([b!.refcount(0), b!.mapcount(0), b!.hasMapping(0)]).toEqual([1, 0, true]);
      expect([b!.refcount(1), b!.mapcount(1), b!.pincount(1), b!.order(1), b!.status(1)]).toEqual([
        3,
        2,
        1,
        9,
        SCAN_HEAD,
      ]);
      expect(b!.hasMapping(1)).toBe(false);
    }
  });

  it('refuses a frame that claims more pages than it carries', () => {
    const b = encodePageBatch(1, [{ refcount: 1, mapcount: 0 }]);
    b.writeUInt32LE(5, 8 + 8); // nr
    expect(() => new FrameReader().push(b)).toThrow(/short scan frame/);
  });
});
