/**
 * A small reader for the kernel's BTF (include/uapi/linux/btf.h, Documentation/bpf/btf.rst),
 * enough to answer the refcount-model questions of docs/kernel-model.md §6 step 2 without libbpf:
 * does `struct folio` or `struct page` have a member `pgmap`, does `memdesc_flags_t` exist, is
 * the folio's page count `_nr_pages` or `_folio_nr_pages`, how many parameters does
 * `get_dev_pagemap` take.
 *
 * /sys/kernel/btf/vmlinux is ~5 MB with ~130k types. The reader makes one pass that records each
 * type's offset in a single Uint32Array and compares names as bytes in place, so a query
 * allocates nothing per type.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { KernelReadError, errnoOf, reason } from './errors.js';

export const BTF_MAGIC = 0xeb9f;

/** `BTF_KIND_*` from include/uapi/linux/btf.h. */
export const BTF_KIND = {
  INT: 1,
  PTR: 2,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;

/** sizeof(struct btf_type): name_off, info, size|type. */
const TYPE_HEADER = 12;

/** Bytes following a type's 12-byte header, by kind (btf.rst §2.2). */
function trailingBytes(kind: number, vlen: number): number {
  switch (kind) {
    case BTF_KIND.INT:
      return 4;
    case BTF_KIND.ARRAY:
      return 12; // struct btf_array
    case BTF_KIND.STRUCT:
    case BTF_KIND.UNION:
      return 12 * vlen; // struct btf_member
    case BTF_KIND.ENUM:
      return 8 * vlen; // struct btf_enum
    case BTF_KIND.FUNC_PROTO:
      return 8 * vlen; // struct btf_param
    case BTF_KIND.VAR:
      return 4; // struct btf_var
    case BTF_KIND.DATASEC:
      return 12 * vlen; // struct btf_var_secinfo
    case BTF_KIND.DECL_TAG:
      return 4; // struct btf_decl_tag
    case BTF_KIND.ENUM64:
      return 12 * vlen; // struct btf_enum64
    case BTF_KIND.PTR:
    case BTF_KIND.FWD:
    case BTF_KIND.TYPEDEF:
    case BTF_KIND.VOLATILE:
    case BTF_KIND.CONST:
    case BTF_KIND.RESTRICT:
    case BTF_KIND.FUNC:
    case BTF_KIND.FLOAT:
    case BTF_KIND.TYPE_TAG:
      return 0;
    default:
      return -1;
  }
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8');

/**
 * Random access to the types of one (base, not split) BTF blob. Type ids start at 1; 0 is void.
 * Throws `KernelReadError` (DAXMON_E_BTF_INVALID) on a malformed blob.
 */
export class BtfReader {
  readonly typeCount: number;
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  private readonly le: boolean;
  private readonly strStart: number;
  private readonly strEnd: number;
  /** offsets[id] = byte offset of type `id`'s header in `buf` (index 0 unused). */
  private readonly offsets: Uint32Array;

  constructor(buf: Uint8Array) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    if (buf.byteLength < 24) invalid(`${buf.byteLength} bytes is shorter than the BTF header`);
    // The magic is stored in the producer's byte order; the kernel's is the host's, but reading
    // both lets the reader handle any blob it is given.
    if (this.view.getUint16(0, true) === BTF_MAGIC) this.le = true;
    else if (this.view.getUint16(0, false) === BTF_MAGIC) this.le = false;
    else invalid(`bad magic 0x${this.view.getUint16(0, true).toString(16)}`);
    const version = this.view.getUint8(2);
    if (version !== 1) invalid(`unsupported BTF version ${version}`);
    const hdrLen = this.u32(4);
    if (hdrLen < 24 || hdrLen > buf.byteLength) invalid(`bad header length ${hdrLen}`);
    const typeOff = this.u32(8);
    const typeLen = this.u32(12);
    const strOff = this.u32(16);
    const strLen = this.u32(20);
    const typesStart = hdrLen + typeOff;
    const typesEnd = typesStart + typeLen;
    this.strStart = hdrLen + strOff;
    this.strEnd = this.strStart + strLen;
    if (typesEnd > buf.byteLength || this.strEnd > buf.byteLength) {
      invalid('type or string section runs past the end of the blob (truncated read?)');
    }

    // Upper bound on the number of types: every type is at least 12 bytes.
    const offsets = new Uint32Array(Math.floor(typeLen / TYPE_HEADER) + 2);
    let id = 1;
    let pos = typesStart;
    while (pos < typesEnd) {
      if (pos + TYPE_HEADER > typesEnd) invalid(`type ${id} header truncated`);
      const info = this.u32(pos + 4);
      const kind = (info >>> 24) & 0x1f;
      const extra = trailingBytes(kind, info & 0xffff);
      if (extra < 0) invalid(`type ${id} has unknown kind ${kind} (newer BTF than this reader knows)`);
      offsets[id] = pos;
      pos += TYPE_HEADER + extra;
      id++;
    }
    if (pos !== typesEnd) invalid('last type runs past the type section');
    this.offsets = offsets;
    this.typeCount = id - 1;
  }

  kind(id: number): number {
    return (this.u32(this.off(id) + 4) >>> 24) & 0x1f;
  }

  vlen(id: number): number {
    return this.u32(this.off(id) + 4) & 0xffff;
  }

  /** `size` or `type`, depending on the kind. */
  sizeOrType(id: number): number {
    return this.u32(this.off(id) + 8);
  }

  name(id: number): string {
    return this.str(this.u32(this.off(id)));
  }

  /** First type of `kind` named `name`, or 0. One pass with in-place byte comparison. */
  findType(kind: number, name: string): number {
    const target = textEncoder.encode(name);
    for (let id = 1; id <= this.typeCount; id++) {
      const pos = this.offsets[id] as number;
      if (((this.u32(pos + 4) >>> 24) & 0x1f) !== kind) continue;
      if (this.nameIs(this.u32(pos), target)) return id;
    }
    return 0;
  }

  /** Any type (struct, typedef, enum, …) named `name`, or 0. */
  findAnyType(name: string): number {
    const target = textEncoder.encode(name);
    for (let id = 1; id <= this.typeCount; id++) {
      const nameOff = this.u32(this.offsets[id] as number);
      if (nameOff !== 0 && this.nameIs(nameOff, target)) return id;
    }
    return 0;
  }

  /** Follow typedef/const/volatile/restrict/type_tag to the underlying type. */
  resolve(id: number): number {
    for (let hops = 0; id !== 0 && hops < 32; hops++) {
      const k = this.kind(id);
      if (
        k !== BTF_KIND.TYPEDEF &&
        k !== BTF_KIND.CONST &&
        k !== BTF_KIND.VOLATILE &&
        k !== BTF_KIND.RESTRICT &&
        k !== BTF_KIND.TYPE_TAG
      ) {
        return id;
      }
      id = this.sizeOrType(id);
    }
    return id;
  }

  /**
   * Does struct/union `id` have a member `member`, looking through anonymous struct/union members
   * as C does? The kernel's `folio->pgmap` and `page->pgmap` sit in anonymous unions.
   */
  hasMember(id: number, member: string): boolean {
    return this.memberIn(id, textEncoder.encode(member), 0);
  }

  /** Names of the members of struct/union `id`, anonymous ones flattened (diagnostics, tests). */
  memberNames(id: number): string[] {
    const out: string[] = [];
    this.collectMembers(id, out, 0);
    return out;
  }

  /**
   * Parameter count of FUNC `name` (via its FUNC_PROTO), or null if there is no such FUNC. A
   * trailing `...` (an unnamed param of type void) is not counted.
   */
  funcParamCount(name: string): number | null {
    const func = this.findType(BTF_KIND.FUNC, name);
    if (func === 0) return null;
    const proto = this.sizeOrType(func);
    if (proto === 0 || this.kind(proto) !== BTF_KIND.FUNC_PROTO) return null;
    let n = this.vlen(proto);
    if (n > 0) {
      const last = this.off(proto) + TYPE_HEADER + 8 * (n - 1);
      if (this.u32(last) === 0 && this.u32(last + 4) === 0) n--;
    }
    return n;
  }

  private memberIn(id: number, target: Uint8Array, depth: number): boolean {
    id = this.resolve(id);
    if (id === 0 || depth > 8) return false;
    const k = this.kind(id);
    if (k !== BTF_KIND.STRUCT && k !== BTF_KIND.UNION) return false;
    const base = this.off(id) + TYPE_HEADER;
    const n = this.vlen(id);
    for (let i = 0; i < n; i++) {
      const nameOff = this.u32(base + 12 * i);
      if (nameOff === 0) {
        if (this.memberIn(this.u32(base + 12 * i + 4), target, depth + 1)) return true;
      } else if (this.nameIs(nameOff, target)) {
        return true;
      }
    }
    return false;
  }

  private collectMembers(id: number, out: string[], depth: number): void {
    id = this.resolve(id);
    if (id === 0 || depth > 8) return;
    const k = this.kind(id);
    if (k !== BTF_KIND.STRUCT && k !== BTF_KIND.UNION) return;
    const base = this.off(id) + TYPE_HEADER;
    for (let i = 0; i < this.vlen(id); i++) {
      const nameOff = this.u32(base + 12 * i);
      if (nameOff === 0) this.collectMembers(this.u32(base + 12 * i + 4), out, depth + 1);
      else out.push(this.str(nameOff));
    }
  }

  private off(id: number): number {
    if (!Number.isInteger(id) || id < 1 || id > this.typeCount) {
      throw new KernelReadError(
        'DAXMON_E_BTF_INVALID',
        `BTF type id ${id} out of range 1..${this.typeCount}`,
      );
    }
    return this.offsets[id] as number;
  }

  private u32(pos: number): number {
    return this.view.getUint32(pos, this.le);
  }

  private nameIs(nameOff: number, target: Uint8Array): boolean {
    const start = this.strStart + nameOff;
    const end = start + target.length;
    if (end >= this.strEnd) return false;
    const buf = this.buf;
    for (let i = 0; i < target.length; i++) if (buf[start + i] !== target[i]) return false;
    return buf[end] === 0;
  }

  private str(nameOff: number): string {
    const start = this.strStart + nameOff;
    if (start >= this.strEnd) return '';
    let end = start;
    while (end < this.strEnd && this.buf[end] !== 0) end++;
    return textDecoder.decode(this.buf.subarray(start, end));
  }
}

function invalid(what: string): never {
  throw new KernelReadError('DAXMON_E_BTF_INVALID', `BTF blob is malformed: ${what}`);
}

/** The BTF answers docs/kernel-model.md §6 step 2 asks for. */
export interface BtfModelFacts {
  /** Types in the blob (for "the reader really read something"). */
  typeCount: number;
  /** `struct folio` exists at all (5.16+). */
  folioExists: boolean;
  /** New model: the pgmap pointer moved to the folio (K618). */
  folioHasPgmap: boolean;
  /** Old model: `page->pgmap` (D612); in the new model it is `_unused_pgmap_compound_head`. */
  pageHasPgmap: boolean;
  /** `memdesc_flags_t` exists (S618, not S614): a 6.18-or-later sub-generation marker. */
  memdescFlagsT: boolean;
  /** The large folio's page-count member: `_folio_nr_pages` (6.12) or `_nr_pages` (6.18). */
  folioNrPagesField: '_nr_pages' | '_folio_nr_pages' | null;
  /** Parameters of `get_dev_pagemap`: 2 before the new model (pfn, pgmap), 1 in it (pfn). */
  getDevPagemapParams: number | null;
}

/** Pure: answer the model questions from a BTF blob. */
export function btfModelFacts(buf: Uint8Array): BtfModelFacts {
  const btf = new BtfReader(buf);
  const folio = btf.findType(BTF_KIND.STRUCT, 'folio');
  const page = btf.findType(BTF_KIND.STRUCT, 'page');
  let folioNrPagesField: BtfModelFacts['folioNrPagesField'] = null;
  if (folio !== 0) {
    if (btf.hasMember(folio, '_nr_pages')) folioNrPagesField = '_nr_pages';
    else if (btf.hasMember(folio, '_folio_nr_pages')) folioNrPagesField = '_folio_nr_pages';
  }
  return {
    typeCount: btf.typeCount,
    folioExists: folio !== 0,
    folioHasPgmap: folio !== 0 && btf.hasMember(folio, 'pgmap'),
    pageHasPgmap: page !== 0 && btf.hasMember(page, 'pgmap'),
    memdescFlagsT: btf.findAnyType('memdesc_flags_t') !== 0,
    folioNrPagesField,
    getDevPagemapParams: btf.funcParamCount('get_dev_pagemap'),
  };
}

export interface BtfRead {
  /** /sys/kernel/btf/vmlinux exists (CONFIG_DEBUG_INFO_BTF=y). */
  vmlinux: boolean;
  path: string;
  facts: BtfModelFacts | null;
  reason?: string;
}

/** Read and answer from `<sysRoot>/kernel/btf/vmlinux`. Never throws. */
export async function readBtf(sysRoot = '/sys'): Promise<BtfRead> {
  const file = path.join(sysRoot, 'kernel', 'btf', 'vmlinux');
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    const code = errnoOf(err);
    return {
      vmlinux: false,
      path: file,
      facts: null,
      reason:
        code === 'ENOENT'
          ? reason(
              'DAXMON_E_BTF_MISSING',
              `${file} does not exist: the kernel was built without CONFIG_DEBUG_INFO_BTF, so ` +
                'fentry/tp_btf probes and CO-RE cannot work; use a kernel with BTF or the bpftrace backend',
            )
          : reason('DAXMON_E_BTF_MISSING', `cannot read ${file} (${code}); run as root`),
    };
  }
  try {
    return { vmlinux: true, path: file, facts: btfModelFacts(buf) };
  } catch (err) {
    return {
      vmlinux: true,
      path: file,
      facts: null,
      reason:
        err instanceof KernelReadError
          ? reason(err.code, `${file}: ${err.message}`)
          : reason('DAXMON_E_BTF_INVALID', `${file}: ${String(err)}`),
    };
  }
}
