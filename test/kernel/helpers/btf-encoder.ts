/**
 * A tiny BTF encoder for tests (include/uapi/linux/btf.h layout): enough kinds to build blobs
 * that look like the kernel's struct page / struct folio in both refcount models, plus every
 * kind with trailing data so the reader's offset walk is exercised.
 */
import { BTF_KIND, BTF_MAGIC } from '../../../src/kernel/btf.js';

type Word = number;

interface TypeRec {
  words: Word[];
}

export interface Member {
  name: string;
  type: number;
  /** Bit offset (informational; the reader does not use it). */
  offset?: number;
}

export class BtfBuilder {
  private readonly strings: string[] = [''];
  private readonly stringOffsets = new Map<string, number>([['', 0]]);
  private stringBytes = 1;
  private readonly types: TypeRec[] = [];

  /** Offset of `s` in the string section (interned). */
  str(s: string): number {
    const known = this.stringOffsets.get(s);
    if (known !== undefined) return known;
    const off = this.stringBytes;
    this.strings.push(s);
    this.stringOffsets.set(s, off);
    this.stringBytes += Buffer.byteLength(s) + 1;
    return off;
  }

  private add(
    name: string,
    kind: number,
    vlen: number,
    sizeOrType: number,
    extra: Word[] = [],
    kflag = false,
  ): number {
    const info = ((kflag ? 1 : 0) << 31) | ((kind & 0x1f) << 24) | (vlen & 0xffff);
    this.types.push({ words: [this.str(name), info >>> 0, sizeOrType, ...extra] });
    return this.types.length; // ids start at 1
  }

  int(name: string, bytes: number, signed = false): number {
    const encoding = signed ? 1 : 0;
    return this.add(name, BTF_KIND.INT, 0, bytes, [((encoding << 24) | (bytes * 8)) >>> 0]);
  }
  ptr(type: number): number {
    return this.add('', BTF_KIND.PTR, 0, type);
  }
  array(elem: number, index: number, n: number): number {
    return this.add('', BTF_KIND.ARRAY, 0, 0, [elem, index, n]);
  }
  struct(name: string, size: number, members: Member[]): number {
    return this.composite(BTF_KIND.STRUCT, name, size, members);
  }
  union(name: string, size: number, members: Member[]): number {
    return this.composite(BTF_KIND.UNION, name, size, members);
  }
  enum(name: string, values: [string, number][]): number {
    const extra = values.flatMap(([n, v]) => [this.str(n), v >>> 0]);
    return this.add(name, BTF_KIND.ENUM, values.length, 4, extra);
  }
  enum64(name: string, values: [string, bigint][]): number {
    const extra = values.flatMap(([n, v]) => [this.str(n), Number(v & 0xffffffffn), Number(v >> 32n)]);
    return this.add(name, BTF_KIND.ENUM64, values.length, 8, extra);
  }
  fwd(name: string, union = false): number {
    return this.add(name, BTF_KIND.FWD, 0, 0, [], union);
  }
  typedef(name: string, type: number): number {
    return this.add(name, BTF_KIND.TYPEDEF, 0, type);
  }
  volatile(type: number): number {
    return this.add('', BTF_KIND.VOLATILE, 0, type);
  }
  const(type: number): number {
    return this.add('', BTF_KIND.CONST, 0, type);
  }
  restrict(type: number): number {
    return this.add('', BTF_KIND.RESTRICT, 0, type);
  }
  typeTag(name: string, type: number): number {
    return this.add(name, BTF_KIND.TYPE_TAG, 0, type);
  }
  funcProto(ret: number, params: { name: string; type: number }[]): number {
    const extra = params.flatMap((p) => [this.str(p.name), p.type]);
    return this.add('', BTF_KIND.FUNC_PROTO, params.length, ret, extra);
  }
  func(name: string, proto: number, linkage = 1): number {
    return this.add(name, BTF_KIND.FUNC, linkage, proto);
  }
  variable(name: string, type: number): number {
    return this.add(name, BTF_KIND.VAR, 0, type, [1]);
  }
  datasec(name: string, vars: { type: number; offset: number; size: number }[]): number {
    const extra = vars.flatMap((v) => [v.type, v.offset, v.size]);
    return this.add(name, BTF_KIND.DATASEC, vars.length, 0, extra);
  }
  float(name: string, bytes: number): number {
    return this.add(name, BTF_KIND.FLOAT, 0, bytes);
  }
  declTag(name: string, type: number, componentIdx: number): number {
    return this.add(name, BTF_KIND.DECL_TAG, 0, type, [componentIdx >>> 0]);
  }

  private composite(kind: number, name: string, size: number, members: Member[]): number {
    const extra = members.flatMap((m) => [this.str(m.name), m.type, m.offset ?? 0]);
    return this.add(name, kind, members.length, size, extra);
  }

  build(opts: { bigEndian?: boolean; hdrLen?: number } = {}): Uint8Array {
    const le = !opts.bigEndian;
    const hdrLen = opts.hdrLen ?? 24;
    const typeLen = this.types.reduce((n, t) => n + 4 * t.words.length, 0);
    const strLen = this.stringBytes;
    const buf = new Uint8Array(hdrLen + typeLen + strLen);
    const view = new DataView(buf.buffer);
    view.setUint16(0, BTF_MAGIC, le);
    view.setUint8(2, 1);
    view.setUint8(3, 0);
    view.setUint32(4, hdrLen, le);
    view.setUint32(8, 0, le);
    view.setUint32(12, typeLen, le);
    view.setUint32(16, typeLen, le);
    view.setUint32(20, strLen, le);
    let pos = hdrLen;
    for (const t of this.types) {
      for (const w of t.words) {
        view.setUint32(pos, w >>> 0, le);
        pos += 4;
      }
    }
    for (const s of this.strings) {
      const bytes = Buffer.from(s, 'utf8');
      buf.set(bytes, pos);
      pos += bytes.length + 1; // NUL already zero
    }
    return buf;
  }
}

/**
 * A blob shaped like the kernel's types in one model (docs/kernel-model.md §4.3 / §6):
 *   new (6.18): folio->pgmap in an anonymous union, page has `_unused_pgmap_compound_head`,
 *               memdesc_flags_t, folio `_nr_pages`, get_dev_pagemap(pfn);
 *   old (6.12): page->pgmap in an anonymous struct inside an anonymous union, folio
 *               `_folio_nr_pages`, get_dev_pagemap(pfn, pgmap).
 * `noise` adds every trailing-data kind before the interesting types.
 */
export function modelBtf(
  model: 'old' | 'new',
  opts: { noise?: boolean; bigEndian?: boolean } = {},
): Uint8Array {
  const b = new BtfBuilder();
  const ulong = b.int('long unsigned int', 8);
  const uint = b.int('unsigned int', 4);
  const int = b.int('int', 4, true);
  if (opts.noise) {
    const arr = b.array(ulong, uint, 4);
    b.enum('memory_type', [
      ['MEMORY_DEVICE_PRIVATE', 1],
      ['MEMORY_DEVICE_FS_DAX', 3],
    ]);
    b.enum64('big', [['BIG', 1n << 40n]]);
    const v = b.variable('some_var', arr);
    b.datasec('.data', [{ type: v, offset: 0, size: 32 }]);
    b.float('double', 8);
    b.declTag('user', v, 0xffffffff);
    b.typeTag('rcu', ulong);
    b.restrict(b.ptr(ulong));
    b.volatile(ulong);
    b.fwd('xdp_devmap_fwd');
  }
  const pgmapFwd = b.fwd('dev_pagemap');
  const pgmapPtr = b.ptr(pgmapFwd);
  const atomic = b.struct('atomic_t', 4, [{ name: 'counter', type: int }]);

  let flagsType = ulong;
  if (model === 'new') {
    const inner = b.struct('', 8, [{ name: 'f', type: ulong }]);
    flagsType = b.typedef('memdesc_flags_t', inner);
  }
  const pageFwdPtr = b.ptr(b.fwd('page'));

  // struct page { flags; union { struct { mapping; <pgmap-or-unused> }; … }; _mapcount; _refcount; }
  const pageAnonStruct = b.struct('', 16, [
    { name: 'mapping', type: pageFwdPtr },
    model === 'old'
      ? { name: 'pgmap', type: pgmapPtr }
      : { name: '_unused_pgmap_compound_head', type: ulong },
  ]);
  const pageAnonUnion = b.union('', 16, [
    { name: '', type: pageAnonStruct },
    { name: 'callback_head', type: ulong },
  ]);
  const page = b.struct('page', 64, [
    { name: 'flags', type: flagsType },
    { name: '', type: pageAnonUnion },
    { name: '_mapcount', type: atomic },
    { name: '_refcount', type: atomic },
  ]);

  // struct folio { union { struct { flags; union { lru; [pgmap] }; … }; struct page page; }; union { struct { …_nr_pages… }; struct page __page_1; }; }
  const lruUnion = b.union('', 16, [
    { name: 'lru', type: ulong },
    ...(model === 'new' ? [{ name: 'pgmap', type: pgmapPtr }] : []),
  ]);
  const folioHead = b.struct('', 64, [
    { name: 'flags', type: flagsType },
    { name: '', type: lruUnion },
    { name: '_refcount', type: atomic },
  ]);
  const u1 = b.union('', 64, [
    { name: '', type: folioHead },
    { name: 'page', type: page },
  ]);
  const second = b.struct('', 64, [
    { name: '_flags_1', type: ulong },
    { name: model === 'new' ? '_nr_pages' : '_folio_nr_pages', type: uint },
  ]);
  const u2 = b.union('', 64, [
    { name: '', type: second },
    { name: '__page_1', type: page },
  ]);
  b.struct('folio', 128, [
    { name: '', type: u1 },
    { name: '', type: b.const(u2) },
  ]);

  const params =
    model === 'new'
      ? [{ name: 'pfn', type: ulong }]
      : [
          { name: 'pfn', type: ulong },
          { name: 'pgmap', type: pgmapPtr },
        ];
  b.func('get_dev_pagemap', b.funcProto(pgmapPtr, params));
  // A variadic function: the trailing `...` param must not be counted.
  b.func(
    'printk',
    b.funcProto(int, [
      { name: 'fmt', type: b.ptr(b.const(int)) },
      { name: '', type: 0 },
    ]),
  );
  return b.build({ bigEndian: opts.bigEndian ?? false });
}
