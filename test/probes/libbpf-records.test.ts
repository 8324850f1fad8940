/**
 * The libbpf loader's stdout decodes to the right events. The encoder below is written from
 * bpf/include/daxmon_record.h (and checked against it), not from the decoder's own constants.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GUP_OPS, LAYOUT_BREAK_FNS, MAP_VIAS, type DaxEvent } from '../../src/events/types.js';
import type { BackendLog } from '../../src/probes/backend.js';
import {
  LibbpfDecoder,
  PGMAP_RANGES_WAIT_NS,
  REC,
  type LoaderMeta,
} from '../../src/probes/libbpf/records.js';

const HEADER = fs.readFileSync(path.resolve(__dirname, '../../bpf/include/daxmon_record.h'), 'utf8');

// ---- an encoder, per daxmon_record.h -----------------------------------------------------------

const REC_SIZE = 96;
const WIRE = 1;
const FRAME_RECORDS = 1;
const FRAME_JSON = 2;
const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** struct daxmon_rec: field → [offset, C type]. */
const LAYOUT = {
  t: [0, '__u64'],
  type: [8, '__u16'],
  flags: [10, '__u16'],
  pid: [12, '__u32'],
  tid: [16, '__u32'],
  stack_id: [20, '__s32'],
  comm: [24, 'char[16]'],
  pfn: [40, '__u64'],
  key: [48, '__u64'],
  refcount: [56, '__s32'],
  mapcount: [60, '__s32'],
  a: [64, '__u64'],
  b: [72, '__u64'],
  d: [80, '__u64'],
  ret: [88, '__s32'],
  order: [92, '__u8'],
  sub: [93, '__u8'],
  pad: [94, '__u16'],
} as const;

interface Rec {
  type: number;
  t?: bigint;
  flags?: number;
  pid?: number;
  tid?: number;
  stackId?: number;
  comm?: string;
  pfn?: bigint;
  key?: bigint;
  refcount?: number;
  mapcount?: number;
  a?: bigint;
  b?: bigint;
  d?: bigint;
  ret?: number;
  order?: number;
  sub?: number;
}

const T = 123_456_789_012_345n; // ~34 hours of uptime, in ns
const PFN = 0x140000n;
const KEY = 0xffff_8881_00a0_0000n;

function rec(r: Rec): Buffer {
  const b = Buffer.alloc(REC_SIZE);
  b.writeBigUInt64LE(r.t ?? T, LAYOUT.t[0]);
  b.writeUInt16LE(r.type, LAYOUT.type[0]);
  b.writeUInt16LE(r.flags ?? 0, LAYOUT.flags[0]);
  b.writeUInt32LE(r.pid ?? 4242, LAYOUT.pid[0]);
  b.writeUInt32LE(r.tid ?? 4243, LAYOUT.tid[0]);
  b.writeInt32LE(r.stackId ?? -1, LAYOUT.stack_id[0]);
  b.write(r.comm ?? 'fio', LAYOUT.comm[0], 16, 'latin1');
  b.writeBigUInt64LE(r.pfn ?? 0n, LAYOUT.pfn[0]);
  b.writeBigUInt64LE(r.key ?? 0n, LAYOUT.key[0]);
  b.writeInt32LE(r.refcount ?? 0, LAYOUT.refcount[0]);
  b.writeInt32LE(r.mapcount ?? 0, LAYOUT.mapcount[0]);
  b.writeBigUInt64LE(r.a ?? 0n, LAYOUT.a[0]);
  b.writeBigUInt64LE(r.b ?? 0n, LAYOUT.b[0]);
  b.writeBigUInt64LE(r.d ?? 0n, LAYOUT.d[0]);
  b.writeInt32LE(r.ret ?? 0, LAYOUT.ret[0]);
  b.writeUInt8(r.order ?? 0, LAYOUT.order[0]);
  b.writeUInt8(r.sub ?? 0, LAYOUT.sub[0]);
  return b;
}

function frame(kind: number, payload: Buffer, version = WIRE): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32LE(payload.length, 0);
  h.writeUInt16LE(kind, 4);
  h.writeUInt16LE(version, 6);
  return Buffer.concat([h, payload]);
}

const records = (...rs: Rec[]) => frame(FRAME_RECORDS, Buffer.concat(rs.map(rec)));
const json = (o: unknown) => frame(FRAME_JSON, Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)));

// ---- the header's constants, read from the header ---------------------------------------------

function define(name: string): number {
  const m = new RegExp(`#define ${name}\\s+\\(?(\\d+)(?:\\s*<<\\s*(\\d+))?\\)?`).exec(HEADER);
  if (!m) throw new Error(`${name} not in daxmon_record.h`);
  return Number(m[1]) << Number(m[2] ?? 0);
}

function enumValues(name: string): Map<string, number> {
  const body = new RegExp(`enum ${name} \\{([\\s\\S]*?)\\};`).exec(HEADER)?.[1];
  if (!body) throw new Error(`enum ${name} not in daxmon_record.h`);
  const out = new Map<string, number>();
  for (const m of body.replace(/\/\*[\s\S]*?\*\//g, '').matchAll(/(DAXMON_\w+)\s*=\s*(\d+)/g))
    out.set(m[1]!, Number(m[2]));
  return out;
}

const F = {
  HAS_PAGE_FREE: define('DAXMON_F_HAS_PAGE_FREE'),
  ALTMAP: define('DAXMON_F_ALTMAP'),
  DISCOVERED: define('DAXMON_F_DISCOVERED'),
  PMD: define('DAXMON_F_PMD'),
  WRITE: define('DAXMON_F_WRITE'),
  ZERO: define('DAXMON_F_ZERO'),
  EMPTY: define('DAXMON_F_EMPTY'),
  SHARED: define('DAXMON_F_SHARED'),
  TRUNC: define('DAXMON_F_TRUNC'),
  TRUNC_UNKNOWN: define('DAXMON_F_TRUNC_UNKNOWN'),
  PAGE_FREE_KNOWN: define('DAXMON_F_PAGE_FREE_KNOWN'),
  PAGE_FREE_CALLED: define('DAXMON_F_PAGE_FREE_CALLED'),
  UNINTERRUPTIBLE: define('DAXMON_F_UNINTERRUPTIBLE'),
  TAIL: define('DAXMON_F_TAIL'),
  PGMAP_CHECKED: define('DAXMON_F_PGMAP_CHECKED'),
  PGMAP_OK: define('DAXMON_F_PGMAP_OK'),
};
const R = Object.fromEntries(
  [...enumValues('daxmon_rec_type')].map(([k, v]) => [k.replace('DAXMON_REC_', ''), v]),
) as Record<keyof typeof REC, number>;

// ---- a decoder harness ---------------------------------------------------------------------

interface Logged {
  level: string;
  msg: string;
  fields?: Record<string, unknown>;
}

function harness() {
  const logged: Logged[] = [];
  const metas: LoaderMeta[] = [];
  const log: BackendLog = {
    debug: (msg, fields) => logged.push({ level: 'debug', msg, ...(fields ? { fields } : {}) }),
    info: (msg, fields) => logged.push({ level: 'info', msg, ...(fields ? { fields } : {}) }),
    warn: (msg, fields) => logged.push({ level: 'warn', msg, ...(fields ? { fields } : {}) }),
    error: (msg, fields) => logged.push({ level: 'error', msg, ...(fields ? { fields } : {}) }),
  };
  const decoder = new LibbpfDecoder({ log, onMeta: (m) => metas.push(m) });
  const events: DaxEvent[] = [];
  const emit = (e: DaxEvent) => events.push(e);
  return {
    decoder,
    events,
    logged,
    metas,
    push: (...chunks: Buffer[]) => {
      for (const c of chunks) decoder.push(c, emit);
      return events;
    },
    end: () => decoder.end(emit),
  };
}

function decodeOne(r: Rec): DaxEvent {
  const h = harness();
  h.push(records(r));
  expect(h.logged).toEqual([]);
  expect(h.events).toHaveLength(1);
  return h.events[0]!;
}

const base = { t: Number(T), pid: 4242, comm: 'fio' };

// ---- the tests ------------------------------------------------------------------------------

describe('the encoder in this test follows daxmon_record.h', () => {
  it('struct daxmon_rec: every field at the offset the header states, 96 bytes in all', () => {
    const body = /struct daxmon_rec \{([\s\S]*?)\};/.exec(HEADER)![1]!;
    const fields = [...body.matchAll(/(__[us]\d+|char)\s+(\w+)(\[\d+\])?;\s*\/\*\s*(\d+)/g)].map((m) => ({
      name: m[2]!,
      type: m[1]! + (m[3] ?? ''),
      offset: Number(m[4]),
    }));
    expect(fields.map((f) => [f.name, [f.offset, f.type]])).toEqual(Object.entries(LAYOUT));
    expect(define('DAXMON_REC_SIZE')).toBe(REC_SIZE);
    expect(define('DAXMON_WIRE_VERSION')).toBe(WIRE);
    expect(define('DAXMON_FRAME_RECORDS')).toBe(FRAME_RECORDS);
    expect(define('DAXMON_FRAME_JSON')).toBe(FRAME_JSON);
  });

  it('record types and sub enums: the decoder numbers them as the header does', () => {
    expect(R).toEqual(REC);
    expect([...enumValues('daxmon_via').values()]).toEqual(MAP_VIAS.map((_, i) => i));
    expect([...enumValues('daxmon_via').keys()]).toEqual(
      MAP_VIAS.map((v) => `DAXMON_VIA_${v.toUpperCase()}`),
    );
    expect([...enumValues('daxmon_gup_op').keys()]).toEqual(
      GUP_OPS.map((o) => `DAXMON_GUP_${o.toUpperCase()}`),
    );
    expect([...enumValues('daxmon_break_fn').keys()]).toEqual(
      LAYOUT_BREAK_FNS.map((f) => `DAXMON_FN_${f.toUpperCase()}`),
    );
  });
});

describe('every record type decodes to its event, field by field', () => {
  it('PGMAP_REGISTERED: key, type, range, vmemmap shift, page_free and altmap flags', () => {
    expect(
      decodeOne({
        type: R.PGMAP_REGISTERED,
        key: KEY,
        pfn: PFN,
        a: 262144n,
        b: 0n,
        d: 1n,
        sub: 3,
        order: 9,
        flags: F.HAS_PAGE_FREE | F.ALTMAP,
      }),
    ).toEqual({
      ...base,
      type: 'pgmap_registered',
      pgmap: '0xffff888100a00000',
      pgmapType: 'fs_dax',
      ranges: [{ pfn: 0x140000, nrPages: 262144 }],
      vmemmapShift: 9,
      hasPageFree: true,
      altmap: true,
      source: 'hook',
    });
    expect(decodeOne({ type: R.PGMAP_REGISTERED, key: KEY, pfn: PFN, a: 512n, d: 1n, sub: 4 })).toMatchObject(
      { pgmapType: 'generic', vmemmapShift: 0, hasPageFree: false, altmap: false },
    );
    for (const [sub, t] of [
      [1, 'private'],
      [2, 'coherent'],
      [5, 'pci_p2pdma'],
    ] as const)
      expect(decodeOne({ type: R.PGMAP_REGISTERED, key: KEY, pfn: PFN, a: 1n, d: 1n, sub })).toMatchObject({
        pgmapType: t,
      });
  });

  it('PGMAP_REGISTERED of a pgmap with several ranges (one record each, b=index d=nr_range): one event with every range', () => {
    const h = harness();
    h.push(
      records(
        { type: R.PGMAP_REGISTERED, key: KEY, pfn: PFN, a: 0x8000n, b: 0n, d: 3n, sub: 4 },
        { type: R.PGMAP_REGISTERED, key: KEY, pfn: PFN + 0x10000n, a: 0x4000n, b: 1n, d: 3n, sub: 4 },
      ),
    );
    expect(h.events).toEqual([]); // not announced with a range missing
    h.push(
      records({ type: R.PGMAP_REGISTERED, key: KEY, pfn: PFN + 0x20000n, a: 0x2000n, b: 2n, d: 3n, sub: 4 }),
    );
    expect(h.events).toHaveLength(1);
    expect(h.events[0]).toMatchObject({
      type: 'pgmap_registered',
      pgmap: '0xffff888100a00000',
      pgmapType: 'generic',
      ranges: [
        { pfn: 0x140000, nrPages: 0x8000 },
        { pfn: 0x150000, nrPages: 0x4000 },
        { pfn: 0x160000, nrPages: 0x2000 },
      ],
    });
  });

  it('PGMAP_REGISTERED with F_DISCOVERED comes from a folio seen before the hooks: source "discovered"', () => {
    expect(
      decodeOne({
        type: R.PGMAP_REGISTERED,
        key: KEY,
        pfn: PFN,
        a: 512n,
        d: 1n,
        sub: 3,
        flags: F.DISCOVERED,
      }),
    ).toMatchObject({ source: 'discovered', hasPageFree: false, altmap: false });
  });

  it('ranges with an unknown index (~0) are assembled by count', () => {
    const h = harness();
    const r = { type: R.PGMAP_REGISTERED, key: KEY, b: U64_MAX, d: 2n, sub: 3 };
    h.push(records({ ...r, pfn: PFN, a: 16n }));
    expect(h.events).toEqual([]);
    h.push(records({ ...r, pfn: PFN + 32n, a: 16n }));
    expect(h.events).toMatchObject([
      {
        type: 'pgmap_registered',
        ranges: [
          { pfn: 0x140000, nrPages: 16 },
          { pfn: 0x140020, nrPages: 16 },
        ],
      },
    ]);
    expect(h.logged).toEqual([]);
  });

  it('a pgmap whose last range record never comes is announced with what arrived, a second later or at the end', () => {
    const r = { type: R.PGMAP_REGISTERED, key: KEY, d: 3n, sub: 4 };
    const first = { ...r, pfn: PFN, a: 16n, b: 0n };
    const second = { ...r, pfn: PFN + 32n, a: 16n, b: 1n };
    const later = (ns: bigint) => ({ type: R.FOLIO_IDLE, pfn: PFN, t: T + ns });

    const h = harness();
    h.push(records(first, second, later(BigInt(PGMAP_RANGES_WAIT_NS) - 1n)));
    expect(h.events.map((e) => e.type)).toEqual(['folio_idle']); // still waiting
    h.push(records(later(BigInt(PGMAP_RANGES_WAIT_NS))));
    expect(h.events.map((e) => e.type)).toEqual(['folio_idle', 'pgmap_registered', 'folio_idle']);
    expect(h.events[1]).toMatchObject({ ranges: [{ pfn: 0x140000 }, { pfn: 0x140020 }] });
    expect(h.logged).toMatchObject([{ level: 'warn', fields: { nrRange: 3, got: 2 } }]);

    const atEnd = harness();
    atEnd.push(records(first));
    atEnd.end();
    expect(atEnd.events).toMatchObject([{ type: 'pgmap_registered', ranges: [{ pfn: 0x140000 }] }]);
  });

  it('PGMAP_REGISTERED with an unknown memory type is logged and skipped', () => {
    const h = harness();
    h.push(records({ type: R.PGMAP_REGISTERED, key: KEY, pfn: PFN, a: 1n, d: 1n, sub: 0 }));
    expect(h.events).toEqual([]);
    expect(h.logged).toMatchObject([{ level: 'warn', fields: { memoryType: 0 } }]);
  });

  it('PGMAP_TEARDOWN_BEGIN carries its first range when a > 0, none otherwise', () => {
    expect(decodeOne({ type: R.PGMAP_TEARDOWN_BEGIN, key: KEY, pfn: PFN, a: 262144n })).toEqual({
      ...base,
      type: 'pgmap_teardown_begin',
      pgmap: '0xffff888100a00000',
      range: { pfn: 0x140000, nrPages: 262144 },
    });
    expect(decodeOne({ type: R.PGMAP_TEARDOWN_BEGIN, key: KEY })).toEqual({
      ...base,
      type: 'pgmap_teardown_begin',
      pgmap: '0xffff888100a00000',
    });
  });

  it('PGMAP_REF_RELEASED and PGMAP_TEARDOWN_DONE name the pgmap', () => {
    expect(decodeOne({ type: R.PGMAP_REF_RELEASED, key: KEY })).toEqual({
      ...base,
      type: 'pgmap_ref_released',
      pgmap: '0xffff888100a00000',
    });
    expect(decodeOne({ type: R.PGMAP_TEARDOWN_DONE, key: 0xffff_ffff_c000_0001n })).toEqual({
      ...base,
      type: 'pgmap_teardown_done',
      pgmap: '0xffffffffc0000001',
    });
  });

  it('DAX_FAULT: dev, ino, pgoff, PMD and WRITE flags, vm_fault_t result', () => {
    expect(
      decodeOne({
        type: R.DAX_FAULT,
        a: 271581184n,
        b: 12n,
        d: 3n,
        ret: 0x100 | 0x800,
        flags: F.PMD | F.WRITE,
      }),
    ).toEqual({
      ...base,
      type: 'dax_fault',
      dev: 271581184,
      ino: 12,
      pgoff: 3,
      pmd: true,
      write: true,
      result: 0x900,
    });
    expect(decodeOne({ type: R.DAX_FAULT, flags: F.WRITE })).toMatchObject({ pmd: false, write: true });
    expect(decodeOne({ type: R.DAX_FAULT, flags: F.PMD })).toMatchObject({ pmd: true, write: false });
  });

  it('DAX_ENTRY_INSERT: pfn, order, dev, ino, index and the ZERO/EMPTY/SHARED flags', () => {
    expect(
      decodeOne({ type: R.DAX_ENTRY_INSERT, pfn: PFN + 3n, order: 9, a: 271581184n, b: 12n, d: 512n }),
    ).toEqual({
      ...base,
      type: 'dax_entry_insert',
      pfn: 0x140003,
      order: 9,
      dev: 271581184,
      ino: 12,
      index: 512,
      zero: false,
      empty: false,
      shared: false,
    });
    expect(decodeOne({ type: R.DAX_ENTRY_INSERT, flags: F.ZERO })).toMatchObject({
      zero: true,
      empty: false,
      shared: false,
    });
    expect(decodeOne({ type: R.DAX_ENTRY_INSERT, flags: F.EMPTY })).toMatchObject({
      zero: false,
      empty: true,
      shared: false,
    });
    expect(decodeOne({ type: R.DAX_ENTRY_INSERT, flags: F.SHARED })).toMatchObject({
      zero: false,
      empty: false,
      shared: true,
    });
  });

  it('DAX_ENTRY_REMOVE: TRUNC flag, refcount and mapcount', () => {
    expect(
      decodeOne({
        type: R.DAX_ENTRY_REMOVE,
        pfn: PFN,
        a: 7n,
        b: 8n,
        d: 9n,
        refcount: 2,
        mapcount: 1,
        flags: F.TRUNC,
      }),
    ).toEqual({
      ...base,
      type: 'dax_entry_remove',
      pfn: 0x140000,
      order: 0,
      dev: 7,
      ino: 8,
      index: 9,
      trunc: true,
      refcount: 2,
      mapcount: 1,
    });
    expect(decodeOne({ type: R.DAX_ENTRY_REMOVE })).toMatchObject({ trunc: false });
    // F_TRUNC_UNKNOWN: the 7.x hook has no trunc argument; an index of ~0 is unknown
    expect(
      decodeOne({ type: R.DAX_ENTRY_REMOVE, flags: F.TRUNC_UNKNOWN, d: 0xffffffffffffffffn }),
    ).toMatchObject({ trunc: null, index: null });
  });

  it('FOLIO_MAP: every insert function by sub, WRITE flag, result, refcount and mapcount', () => {
    MAP_VIAS.forEach((via, sub) =>
      expect(
        decodeOne({
          type: R.FOLIO_MAP,
          pfn: PFN,
          order: 9,
          sub,
          flags: F.WRITE,
          ret: 0x100,
          refcount: 1,
          mapcount: 512,
        }),
      ).toEqual({
        ...base,
        type: 'folio_map',
        pfn: 0x140000,
        order: 9,
        via,
        write: true,
        ret: 0x100,
        refcount: 1,
        mapcount: 512,
      }),
    );
    // Bit 0 is not WRITE for this record type.
    expect(decodeOne({ type: R.FOLIO_MAP, flags: 1 })).toMatchObject({ write: false });
  });

  it('FOLIO_MAP with an unknown insert function is logged and skipped', () => {
    const h = harness();
    h.push(records({ type: R.FOLIO_MAP, sub: MAP_VIAS.length }));
    expect(h.events).toEqual([]);
    expect(h.logged).toMatchObject([{ level: 'warn', fields: { via: MAP_VIAS.length } }]);
  });

  it('FOLIO_UNMAP: nr pages, refcount and mapcount read before removal', () => {
    expect(
      decodeOne({ type: R.FOLIO_UNMAP, pfn: PFN, order: 9, a: 512n, refcount: 1, mapcount: 512 }),
    ).toEqual({
      ...base,
      type: 'folio_unmap',
      pfn: 0x140000,
      order: 9,
      nr: 512,
      refcount: 1,
      mapcount: 512,
    });
  });

  it('GUP: op by sub, refs, FOLL flags, pincount, a negative errno result and the refcount', () => {
    GUP_OPS.forEach((op, sub) =>
      expect(
        decodeOne({
          type: R.GUP,
          sub,
          pfn: PFN,
          a: 1n,
          b: BigInt((1 << 19) | (1 << 8)),
          d: 2n,
          ret: -14,
          refcount: 1025,
        }),
      ).toEqual({
        ...base,
        type: 'gup',
        op,
        pfn: 0x140000,
        order: 0,
        refs: 1,
        flags: (1 << 19) | (1 << 8),
        result: -14,
        refcount: 1025,
        pincount: 2,
      }),
    );
    const h = harness();
    h.push(records({ type: R.GUP, sub: GUP_OPS.length }));
    expect(h.events).toEqual([]);
    expect(h.logged).toMatchObject([{ level: 'warn', fields: { op: GUP_OPS.length } }]);
  });

  it('GUP_LONGTERM_REFUSED: FOLL flags and result', () => {
    expect(decodeOne({ type: R.GUP_LONGTERM_REFUSED, b: BigInt((1 << 19) | (1 << 8)), ret: -95 })).toEqual({
      ...base,
      type: 'gup_longterm_refused',
      flags: (1 << 19) | (1 << 8),
      result: -95,
    });
  });

  it('FOLIO_PUT and FOLIO_IDLE', () => {
    expect(decodeOne({ type: R.FOLIO_PUT, pfn: PFN, a: 3n, refcount: 4 })).toEqual({
      ...base,
      type: 'folio_put',
      pfn: 0x140000,
      order: 0,
      refs: 3,
      refcount: 4,
    });
    expect(decodeOne({ type: R.FOLIO_IDLE, pfn: PFN, order: 9, refcount: 1 })).toEqual({
      ...base,
      type: 'folio_idle',
      pfn: 0x140000,
      order: 9,
      refcount: 1,
    });
  });

  it('ZONE_DEVICE_FREE: pageFreeCalled is null unless known, then whether it was called', () => {
    const z = { type: R.ZONE_DEVICE_FREE, pfn: PFN, refcount: 0, mapcount: 0 };
    expect(decodeOne(z)).toEqual({
      ...base,
      type: 'zone_device_free',
      pfn: 0x140000,
      order: 0,
      refcount: 0,
      mapcount: 0,
      pageFreeCalled: null,
    });
    expect(decodeOne({ ...z, flags: F.PAGE_FREE_KNOWN })).toMatchObject({ pageFreeCalled: false });
    expect(decodeOne({ ...z, flags: F.PAGE_FREE_KNOWN | F.PAGE_FREE_CALLED })).toMatchObject({
      pageFreeCalled: true,
    });
    expect(decodeOne({ ...z, flags: F.PAGE_FREE_CALLED })).toMatchObject({ pageFreeCalled: null });
  });

  it('BUSY_PAGE_FOUND', () => {
    expect(decodeOne({ type: R.BUSY_PAGE_FOUND, pfn: PFN, a: 5n, b: 6n, refcount: 2, mapcount: 0 })).toEqual({
      ...base,
      type: 'busy_page_found',
      dev: 5,
      ino: 6,
      pfn: 0x140000,
      order: 0,
      refcount: 2,
      mapcount: 0,
    });
  });

  it('LAYOUT_BREAK_BEGIN: tid, function by sub, UNINTERRUPTIBLE flag', () => {
    LAYOUT_BREAK_FNS.forEach((fn, sub) =>
      expect(
        decodeOne({ type: R.LAYOUT_BREAK_BEGIN, tid: 77, a: 5n, b: 6n, sub, flags: F.UNINTERRUPTIBLE }),
      ).toEqual({
        ...base,
        type: 'layout_break_begin',
        tid: 77,
        dev: 5,
        ino: 6,
        fn,
        uninterruptible: true,
      }),
    );
    expect(decodeOne({ type: R.LAYOUT_BREAK_BEGIN })).toMatchObject({ uninterruptible: false });
    const h = harness();
    h.push(records({ type: R.LAYOUT_BREAK_END, sub: LAYOUT_BREAK_FNS.length }));
    expect(h.events).toEqual([]);
    expect(h.logged).toMatchObject([{ level: 'warn', fields: { fn: LAYOUT_BREAK_FNS.length } }]);
  });

  it('LAYOUT_BREAK_END: sleeps ~0 means unknown (null), any other value is the count', () => {
    const e = { type: R.LAYOUT_BREAK_END, tid: 77, a: 5n, b: 6n, sub: 2, ret: -4 };
    expect(decodeOne({ ...e, d: U64_MAX })).toEqual({
      ...base,
      type: 'layout_break_end',
      tid: 77,
      dev: 5,
      ino: 6,
      fn: 'dax_break_layout',
      sleeps: null,
      result: -4,
    });
    expect(decodeOne({ ...e, d: 3n })).toMatchObject({ sleeps: 3 });
    expect(decodeOne({ ...e, d: 0n })).toMatchObject({ sleeps: 0 });
    expect(decodeOne({ ...e, d: 0xffff_ffffn })).toMatchObject({ sleeps: 0xffff_ffff });
  });

  it('REFCOUNT_SAMPLE: flags word in hex, head pfn only for tails, pgmapOk tri-state, pincount, order', () => {
    const s = {
      type: R.REFCOUNT_SAMPLE,
      pfn: PFN + 1n,
      refcount: 0,
      mapcount: 0,
      a: 0x2fffff80000000n,
      d: 0n,
    };
    expect(
      decodeOne({ ...s, b: PFN, flags: F.TAIL | F.PGMAP_CHECKED | F.PGMAP_OK, order: 9, d: 5n }),
    ).toEqual({
      ...base,
      type: 'refcount_sample',
      pfn: 0x140001,
      refcount: 0,
      mapcount: 0,
      flags: '0x2fffff80000000',
      tail: true,
      headPfn: 0x140000,
      pgmapOk: true,
      order: 9,
      pincount: 5,
    });
    expect(decodeOne({ ...s, b: U64_MAX })).toMatchObject({ tail: false, headPfn: null, pgmapOk: null });
    expect(decodeOne({ ...s, b: U64_MAX, flags: F.PGMAP_CHECKED })).toMatchObject({ pgmapOk: false });
    expect(decodeOne({ ...s, b: U64_MAX, flags: F.PGMAP_OK })).toMatchObject({ pgmapOk: null });
    expect(decodeOne({ ...s, a: U64_MAX, b: U64_MAX })).toMatchObject({ flags: '0xffffffffffffffff' });
  });

  it('64-bit values: pfns above 2^32, a large timestamp, negative refcounts, a full 16-byte comm', () => {
    const high = (1n << 32n) + 5n;
    const e = decodeOne({
      type: R.FOLIO_MAP,
      t: 9_000_000_000_000_000n,
      pfn: high,
      refcount: -1,
      mapcount: -2,
      comm: 'kworker/u16:3+fl',
      pid: 0xfffffffe,
    });
    expect(e).toMatchObject({
      t: 9_000_000_000_000_000,
      pfn: 4294967301,
      refcount: -1,
      mapcount: -2,
      comm: 'kworker/u16:3+fl',
      pid: 0xfffffffe,
    });
    expect(decodeOne({ type: R.FOLIO_IDLE, pfn: (1n << 40n) + 0x1234n })).toMatchObject({
      pfn: 2 ** 40 + 0x1234,
    });
    expect(
      decodeOne({ type: R.DAX_ENTRY_INSERT, pfn: PFN, a: 0x1_0000_0003n, d: (1n << 36n) + 1n }),
    ).toMatchObject({
      dev: 0x1_0000_0003,
      index: 2 ** 36 + 1,
    });
  });
});

describe('frames', () => {
  it('records in one frame come out in order, and the decoder counts them', () => {
    const h = harness();
    h.push(
      records(
        { type: R.FOLIO_IDLE, pfn: 1n },
        { type: R.FOLIO_IDLE, pfn: 2n },
        { type: R.FOLIO_IDLE, pfn: 3n },
      ),
    );
    expect(h.events.map((e) => (e as { pfn: number }).pfn)).toEqual([1, 2, 3]);
    expect(h.decoder.records).toBe(3);
  });

  it('a stream split at every byte boundary, or fed a byte at a time, decodes identically', () => {
    const stream = Buffer.concat([
      json({ kind: 'hello', loader: 'daxmon-loader 0.1', wire: 1, record_size: 96 }),
      json({ kind: 'stack', id: 3, frames: ['vmf_insert_page_mkwrite+0x1c', 'dax_fault_iter+0x2f0'] }),
      records(
        { type: R.PGMAP_REGISTERED, key: KEY, pfn: PFN, a: 262144n, d: 1n, sub: 3 },
        { type: R.FOLIO_MAP, pfn: PFN, stackId: 3, refcount: 1, mapcount: 1, flags: F.WRITE },
      ),
      json({
        kind: 'attach',
        probe: 'folio_map_pte',
        program: 'p',
        target: 'fentry/vmf_insert_page_mkwrite',
        attached: true,
        error: null,
      }),
      json({ kind: 'ready', attached: 1, failed: 0, probes: { folio_map_pte: { hooks: 1, attached: 1 } } }),
      json({ kind: 'lost', count: 4 }),
      records(
        { type: R.LAYOUT_BREAK_END, d: U64_MAX, sub: 1 },
        { type: R.REFCOUNT_SAMPLE, pfn: (1n << 33n) + 1n, b: U64_MAX },
      ),
    ]);
    const untimed = (es: DaxEvent[]) =>
      es.map((e) => (e.type === 'probe_status' || e.type === 'events_lost' ? { ...e, t: 0 } : e));
    const whole = harness();
    const expected = untimed(whole.push(stream));
    expect(expected.map((e) => e.type)).toEqual([
      'pgmap_registered',
      'folio_map',
      'probe_status',
      'events_lost',
      'layout_break_end',
      'refcount_sample',
    ]);
    for (let i = 0; i <= stream.length; i++) {
      const h = harness();
      h.push(stream.subarray(0, i), stream.subarray(i));
      h.end();
      expect(untimed(h.events), `split at byte ${i}`).toEqual(expected);
      expect(h.logged).toEqual([]);
      expect(h.metas).toHaveLength(2);
    }
    const bytewise = harness();
    for (let i = 0; i < stream.length; i++) bytewise.push(stream.subarray(i, i + 1));
    expect(untimed(bytewise.events)).toEqual(expected);
  });

  it('a frame length that is not a multiple of 96 is logged; its whole records still decode', () => {
    const h = harness();
    const payload = Buffer.concat([rec({ type: R.FOLIO_IDLE, pfn: 9n }), Buffer.alloc(10)]);
    h.push(frame(FRAME_RECORDS, payload));
    expect(h.events).toMatchObject([{ type: 'folio_idle', pfn: 9 }]);
    expect(h.logged).toMatchObject([{ level: 'warn', fields: { len: 106 } }]);
  });

  it('an unknown frame kind is logged and skipped; the stream goes on', () => {
    const h = harness();
    h.push(frame(7, Buffer.from('whatever')), records({ type: R.FOLIO_IDLE, pfn: 9n }));
    expect(h.events).toMatchObject([{ type: 'folio_idle' }]);
    expect(h.logged).toMatchObject([{ level: 'warn', fields: { kind: 7 } }]);
  });

  it('a stream that ends inside a frame reports the partial frame', () => {
    const h = harness();
    h.push(records({ type: R.FOLIO_IDLE }).subarray(0, 50));
    h.end();
    expect(h.events).toEqual([]);
    expect(h.logged).toMatchObject([{ level: 'warn', fields: { bytes: 50 } }]);
  });
});

describe('JSON meta frames', () => {
  const attach = (probe: string, target: string, attached: boolean, error: string | null = null) =>
    json({ kind: 'attach', probe, program: `${probe}__p`, target, attached, error });

  it('attach frames alone decide nothing; ready turns them into one probe_status per probe', () => {
    const h = harness();
    h.push(
      attach('zone_device_free', 'fentry/free_zone_device_folio', true),
      attach('busy_page', 'kprobe/dax_layout_busy_page_range', false, 'ENOENT'),
    );
    expect(h.events).toEqual([]);
    h.push(
      json({
        kind: 'ready',
        attached: 1,
        failed: 1,
        probes: { zone_device_free: { hooks: 1, attached: 1 }, busy_page: { hooks: 1, attached: 0 } },
      }),
    );
    expect(h.events).toMatchObject([
      {
        type: 'probe_status',
        backend: 'libbpf',
        probe: 'zone_device_free',
        attached: true,
        detail: 'fentry/free_zone_device_folio',
      },
      {
        type: 'probe_status',
        backend: 'libbpf',
        probe: 'busy_page',
        attached: false,
        detail: 'kprobe/dax_layout_busy_page_range: ENOENT',
      },
    ]);
    for (const e of h.events) expect(e.t).toBeGreaterThan(0);
  });

  it('a malformed ready entry is skipped with a warning, never a crash; the good ones still count', () => {
    const h = harness();
    h.push(
      attach('zone_device_free', 'fentry/free_zone_device_folio', true),
      json({
        kind: 'ready',
        probes: { x: null, y: { hooks: 'one' }, zone_device_free: { hooks: 1, attached: 1 } },
      }),
    );
    expect(h.events).toMatchObject([{ type: 'probe_status', probe: 'zone_device_free', attached: true }]);
    expect(
      h.logged.filter((l) => l.msg === 'libbpf: malformed ready entry skipped').map((l) => l.fields?.probe),
    ).toEqual(['x', 'y']);
  });

  it('a probe with several hooks is attached when any hook is, a failed later hook does not undo it', () => {
    const h = harness();
    h.push(
      attach('folio_map_pte', 'fentry/vmf_insert_page_mkwrite', true),
      attach('folio_map_pte', 'fentry/insert_page', true),
      attach('folio_map_pte', 'fentry/insert_pfn', false, 'ENOENT'),
      json({ kind: 'ready', probes: { folio_map_pte: { hooks: 3, attached: 2 } } }),
    );
    expect(h.events).toHaveLength(1);
    expect(h.events[0]).toMatchObject({ type: 'probe_status', probe: 'folio_map_pte', attached: true });
    const detail = (h.events[0] as { detail: string }).detail;
    expect(detail).toContain('2/3 hooks');
    expect(detail).toContain('fentry/insert_pfn: ENOENT');
  });

  it('a ready frame without per-probe counts emits no status and still reaches onMeta', () => {
    const h = harness();
    h.push(json({ kind: 'ready' }));
    expect(h.events).toEqual([]);
    expect(h.metas).toMatchObject([{ kind: 'ready' }]);
  });

  it('lost becomes events_lost with the count (a zero count is no event)', () => {
    const h = harness();
    h.push(json({ kind: 'lost', count: 0 }), json({ kind: 'lost', count: 1234 }));
    expect(h.events).toMatchObject([{ type: 'events_lost', backend: 'libbpf', count: 1234 }]);
  });

  it('prog_stats becomes one probe_missed per program, in stream order before the records after it', () => {
    const h = harness();
    h.push(
      json({
        kind: 'prog_stats',
        run_stats: true,
        final: false,
        programs: [
          {
            program: 'folio_map_pte__fexit__vmf_insert_page_mkwrite',
            probe: 'folio_map_pte',
            id: 41,
            missed: 3,
            misses: 335,
            runs: 2_000_000,
          },
          {
            program: 'layout_break__fentry__dax_break_layout',
            probe: 'layout_break',
            id: 42,
            missed: 0,
            misses: 0,
            runs: null,
          },
          { program: 7, missed: 1, misses: 1 },
        ],
      }),
      records({ type: R.FOLIO_MAP, pfn: 9n }),
    );
    expect(h.events.map((e) => e.type)).toEqual(['probe_missed', 'probe_missed', 'folio_map']);
    expect(h.events[0]).toMatchObject({
      type: 'probe_missed',
      backend: 'libbpf',
      probe: 'folio_map_pte',
      program: 'folio_map_pte__fexit__vmf_insert_page_mkwrite',
      missed: 3,
      misses: 335,
      runs: 2_000_000,
    });
    expect(h.events[1]).toMatchObject({ probe: 'layout_break', missed: 0, runs: null });
    expect(h.logged.some((l) => l.msg.includes('malformed prog_stats entry'))).toBe(true);
  });

  it('stack frames make later records with that stack id carry the stack; unknown ids carry none', () => {
    const h = harness();
    h.push(records({ type: R.FOLIO_MAP, pfn: 1n, stackId: 5 }));
    h.push(json({ kind: 'stack', id: 5, frames: ['free_zone_device_folio+0x0', '__folio_put+0x5e'] }));
    h.push(
      records(
        { type: R.FOLIO_MAP, pfn: 2n, stackId: 5 },
        { type: R.FOLIO_MAP, pfn: 3n, stackId: 6 },
        { type: R.FOLIO_MAP, pfn: 4n },
      ),
    );
    expect(h.events.map((e) => e.stack)).toEqual([
      undefined,
      ['free_zone_device_folio+0x0', '__folio_put+0x5e'],
      undefined,
      undefined,
    ]);
    expect('stack' in h.events[0]!).toBe(false);
  });

  it('hello, ready and error go to onMeta', () => {
    const h = harness();
    h.push(
      json({ kind: 'hello', loader: 'x', wire: 1, record_size: 96 }),
      json({ kind: 'ready' }),
      json({ kind: 'error', message: 'bpf_object__load: -EPERM' }),
    );
    expect(h.metas.map((m) => m.kind)).toEqual(['hello', 'ready', 'error']);
    expect(h.events).toEqual([]);
  });

  it('malformed JSON, or JSON that is not an object, is logged and skipped; the stream goes on', () => {
    const h = harness();
    h.push(json('{"kind": "lost", "count": '), json('null'), json('42'), json({ kind: 'lost', count: 2 }));
    expect(h.events).toMatchObject([{ type: 'events_lost', count: 2 }]);
    expect(h.logged.filter((l) => l.level === 'warn')).toHaveLength(3);
  });
});

describe('unusable input', () => {
  it('an unknown record type is logged and skipped; the records around it still decode', () => {
    const h = harness();
    h.push(records({ type: R.FOLIO_IDLE, pfn: 1n }, { type: 99 }, { type: R.FOLIO_IDLE, pfn: 2n }));
    expect(h.events.map((e) => (e as { pfn: number }).pfn)).toEqual([1, 2]);
    expect(h.logged).toMatchObject([{ level: 'warn', fields: { recordType: 99 } }]);
    expect(h.decoder.records).toBe(2);
  });

  it('a frame with a different wire version throws a clear error', () => {
    const h = harness();
    expect(() => h.push(frame(FRAME_RECORDS, rec({ type: R.FOLIO_IDLE }), 2))).toThrow(
      /version=2 .*expected wire version 1/,
    );
  });

  it('an absurd frame length throws a clear error before waiting for that many bytes', () => {
    const h = harness();
    const hdr = Buffer.alloc(8);
    hdr.writeUInt32LE(0xffff_fff0, 0);
    hdr.writeUInt16LE(FRAME_RECORDS, 4);
    hdr.writeUInt16LE(WIRE, 6);
    expect(() => h.push(hdr)).toThrow(/corrupt.*len=4294967280/);
  });
});
