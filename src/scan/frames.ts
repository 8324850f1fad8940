/**
 * Decoder of daxmon-scan's stdout (bpf/include/daxmon_scan.h): frames of pages read off the
 * kernel's struct pages, and JSON meta frames. Pages stay in the frame's bytes and are read
 * through accessors: a 1 GiB pgmap is 262144 pages per scan, and no object is made per page.
 */
export const FRAME_JSON = 2;
export const FRAME_SCAN_PAGES = 3;
const HDR = 8;
const BATCH_HDR = 16;
export const PAGE_RECORD = 48;

/** status bits of a page record */
export const SCAN_FAULT = 1;
export const SCAN_HEAD = 2;
export const SCAN_TAIL = 4;

/** One batch of consecutive pfns as the kernel had them. */
export class PageBatch {
  readonly startPfn: number;
  readonly nr: number;
  readonly faults: number;
  private readonly v: DataView;

  constructor(payload: Uint8Array) {
    this.v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    this.startPfn = Number(this.v.getBigUint64(0, true));
    this.nr = this.v.getUint32(8, true);
    this.faults = this.v.getUint32(12, true);
    if (payload.byteLength < BATCH_HDR + this.nr * PAGE_RECORD)
      throw new Error(`short scan frame: ${payload.byteLength} bytes for ${this.nr} pages`);
  }

  private off(i: number): number {
    return BATCH_HDR + i * PAGE_RECORD;
  }
  /** page->flags: only the low 32 bits and the top byte matter to daxmon, so two reads. */
  flagsHi(i: number): number {
    return this.v.getUint32(this.off(i) + 4, true);
  }
  /** The word at offset 8 (pgmap pointer, or compound head + 1 on a tail), as a hex string. */
  info(i: number): bigint {
    return this.v.getBigUint64(this.off(i) + 8, true);
  }
  /** A DAX entry owns the page: folio->mapping is set (6.12's shared sentinel 0x1 included). */
  hasMapping(i: number): boolean {
    const o = this.off(i) + 16;
    return this.v.getUint32(o, true) !== 0 || this.v.getUint32(o + 4, true) !== 0;
  }
  refcount(i: number): number {
    return this.v.getInt32(this.off(i) + 24, true);
  }
  mapcount(i: number): number {
    return this.v.getInt32(this.off(i) + 28, true);
  }
  pincount(i: number): number {
    return this.v.getInt32(this.off(i) + 32, true);
  }
  order(i: number): number {
    return this.v.getUint8(this.off(i) + 36);
  }
  status(i: number): number {
    return this.v.getUint8(this.off(i) + 37);
  }
}

export type ScanFrame =
  { kind: 'pages'; batch: PageBatch } | { kind: 'json'; value: Record<string, unknown> };

/** Splits a byte stream into frames; feed it chunks as they arrive. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): ScanFrame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: ScanFrame[] = [];
    let o = 0;
    while (this.buf.length - o >= HDR) {
      const len = this.buf.readUInt32LE(o);
      const kind = this.buf.readUInt16LE(o + 4);
      if (this.buf.length - o < HDR + len) break;
      const payload = this.buf.subarray(o + HDR, o + HDR + len);
      if (kind === FRAME_SCAN_PAGES) {
        // copy: the batch outlives this buffer (it is kept until reconciled)
        out.push({ kind: 'pages', batch: new PageBatch(new Uint8Array(payload)) });
      } else if (kind === FRAME_JSON) {
        out.push({ kind: 'json', value: JSON.parse(payload.toString('utf8')) as Record<string, unknown> });
      }
      o += HDR + len;
    }
    this.buf = this.buf.subarray(o);
    return out;
  }
}

/** Builds a frame's bytes the way daxmon-scan writes them (tests, replay of captured scans). */
export function encodePageBatch(
  startPfn: number,
  pages: readonly {
    refcount: number;
    mapcount: number;
    pincount?: number;
    order?: number;
    status?: number;
    mapping?: boolean;
    info?: bigint;
  }[],
): Buffer {
  const len = BATCH_HDR + pages.length * PAGE_RECORD;
  const b = Buffer.alloc(HDR + len);
  b.writeUInt32LE(len, 0);
  b.writeUInt16LE(FRAME_SCAN_PAGES, 4);
  b.writeUInt16LE(1, 6);
  b.writeBigUInt64LE(BigInt(startPfn), HDR);
  b.writeUInt32LE(pages.length, HDR + 8);
  pages.forEach((p, i) => {
    const o = HDR + BATCH_HDR + i * PAGE_RECORD;
    b.writeBigUInt64LE(p.info ?? 0xffff888000001000n, o + 8);
    b.writeBigUInt64LE(p.mapping ? 0xffff888000002000n : 0n, o + 16);
    b.writeInt32LE(p.refcount, o + 24);
    b.writeInt32LE(p.mapcount, o + 28);
    b.writeInt32LE(p.pincount ?? 0, o + 32);
    b.writeUInt8(p.order ?? 0, o + 36);
    b.writeUInt8(p.status ?? 0, o + 37);
  });
  return b;
}
