/**
 * Runtime schema of every event type: used to validate recorded streams (replay) and anything
 * else that arrives as untrusted JSON. Table-driven so validation is a tight loop with no
 * per-event closures; `test/events/schema.test.ts` proves every type in the union has a spec.
 */
import {
  BACKENDS,
  GUP_OPS,
  LAYOUT_BREAK_FNS,
  MAP_VIAS,
  MEMORY_TYPES,
  type DaxEvent,
  type EventType,
} from './types.js';

export type Kind =
  | 'uint' // non-negative safe integer
  | 'int' // safe integer
  | 'str'
  | 'bool'
  | 'bool?' // boolean or null
  | 'uint?' // non-negative integer or null
  | 'int?'
  | 'str?'
  | 'ranges'
  | 'range'
  | { enum: readonly string[] };

export interface FieldSpec {
  name: string;
  kind: Kind;
  optional?: boolean;
}

const f = (name: string, kind: Kind, optional = false): FieldSpec => ({ name, kind, optional });

export const COMMON: FieldSpec[] = [f('t', 'uint'), f('pid', 'uint'), f('comm', 'str')];
const FOLIO: FieldSpec[] = [f('pfn', 'uint'), f('order', 'uint')];
const INODE: FieldSpec[] = [f('dev', 'uint'), f('ino', 'uint')];

export const EVENT_SCHEMA: Record<EventType, FieldSpec[]> = {
  pgmap_registered: [
    f('pgmap', 'str'),
    f('pgmapType', { enum: MEMORY_TYPES }),
    f('ranges', 'ranges'),
    f('vmemmapShift', 'uint'),
    f('hasPageFree', 'bool'),
    f('altmap', 'bool'),
    f('device', 'str', true),
    f('source', { enum: ['hook', 'discovered'] }),
  ],
  pgmap_teardown_begin: [f('pgmap', 'str'), f('range', 'range', true)],
  pgmap_ref_released: [f('pgmap', 'str')],
  pgmap_teardown_done: [f('pgmap', 'str')],
  dax_fault: [...INODE, f('pgoff', 'uint'), f('pmd', 'bool'), f('write', 'bool'), f('result', 'uint')],
  dax_entry_insert: [
    ...FOLIO,
    ...INODE,
    f('index', 'uint'),
    f('zero', 'bool'),
    f('empty', 'bool'),
    f('shared', 'bool'),
  ],
  dax_entry_remove: [
    ...FOLIO,
    ...INODE,
    f('index', 'uint?'),
    f('trunc', 'bool?'),
    f('refcount', 'int'),
    f('mapcount', 'int'),
  ],
  folio_map: [
    ...FOLIO,
    f('via', { enum: MAP_VIAS }),
    f('write', 'bool'),
    f('ret', 'uint'),
    f('refcount', 'int'),
    f('mapcount', 'int'),
  ],
  folio_unmap: [...FOLIO, f('nr', 'uint'), f('refcount', 'int'), f('mapcount', 'int')],
  gup: [
    f('op', { enum: GUP_OPS }),
    ...FOLIO,
    f('refs', 'uint'),
    f('flags', 'uint'),
    f('result', 'int'),
    f('refcount', 'int'),
    f('pincount', 'uint'),
  ],
  gup_longterm_refused: [f('flags', 'uint'), f('result', 'int')],
  folio_put: [...FOLIO, f('refs', 'uint'), f('refcount', 'int')],
  folio_idle: [...FOLIO, f('refcount', 'int')],
  zone_device_free: [...FOLIO, f('refcount', 'int'), f('mapcount', 'int'), f('pageFreeCalled', 'bool?')],
  busy_page_found: [...INODE, ...FOLIO, f('refcount', 'int'), f('mapcount', 'int')],
  layout_break_begin: [
    f('tid', 'uint'),
    ...INODE,
    f('fn', { enum: LAYOUT_BREAK_FNS }),
    f('uninterruptible', 'bool'),
  ],
  layout_break_end: [
    f('tid', 'uint'),
    ...INODE,
    f('fn', { enum: LAYOUT_BREAK_FNS }),
    f('sleeps', 'uint?'),
    f('result', 'int'),
  ],
  refcount_sample: [
    f('pfn', 'uint'),
    f('refcount', 'int'),
    f('mapcount', 'int'),
    f('flags', 'str'),
    f('tail', 'bool'),
    f('headPfn', 'uint?'),
    f('pgmapOk', 'bool?'),
    f('order', 'uint'),
    f('pincount', 'uint'),
  ],
  backend_started: [f('backend', { enum: BACKENDS }), f('version', 'str')],
  backend_stopped: [
    f('backend', { enum: BACKENDS }),
    f('reason', 'str'),
    f('exitCode', 'int?'),
    f('signal', 'str?'),
  ],
  events_lost: [f('backend', { enum: BACKENDS }), f('count', 'uint')],
  probe_status: [
    f('backend', { enum: BACKENDS }),
    f('probe', 'str'),
    f('attached', 'bool'),
    f('detail', 'str'),
  ],
  clock_tick: [],
  probe_missed: [
    f('backend', { enum: BACKENDS }),
    f('probe', 'str'),
    f('program', 'str'),
    f('missed', 'uint'),
    f('runs', 'uint?'),
    f('misses', 'uint'),
  ],
  wait_confirmation: [
    f('tid', 'uint'),
    f('beginT', 'uint'),
    f('severity', { enum: ['warning', 'error'] }),
    f('outcome', { enum: ['confirmed', 'resynced'] }),
    f('taskAlive', 'bool'),
    f('detail', 'str'),
  ],
  folio_confirmation: [
    f('pfn', 'uint'),
    f('check', { enum: ['idle_refcount_mismatch'] }),
    f('outcome', { enum: ['confirmed', 'resynced', 'unread'] }),
    f('detail', 'str'),
  ],
};

/**
 * The schema by type name, for lookups keyed by input: a Map, so that a `type` naming an
 * Object.prototype property (`constructor`, `__proto__`) is an unknown type, not a crash.
 */
const SPEC_BY_TYPE: ReadonlyMap<string, FieldSpec[]> = new Map(Object.entries(EVENT_SCHEMA));

/** Largest folio order daxmon accepts (PUD folios are order 18 on x86-64). */
export const MAX_ORDER = 18;

function isRange(r: unknown): boolean {
  if (typeof r !== 'object' || r === null) return false;
  const { pfn, nrPages } = r as { pfn?: unknown; nrPages?: unknown };
  return (
    Object.keys(r).length === 2 &&
    Number.isSafeInteger(pfn) &&
    Number.isSafeInteger(nrPages) &&
    (pfn as number) >= 0 &&
    (nrPages as number) > 0
  );
}

function checkKind(v: unknown, kind: Kind): string | null {
  if (typeof kind === 'object') {
    return typeof v === 'string' && kind.enum.includes(v) ? null : `one of ${kind.enum.join('|')}`;
  }
  switch (kind) {
    case 'uint':
      return Number.isSafeInteger(v) && (v as number) >= 0 ? null : 'a non-negative integer';
    case 'int':
      return Number.isSafeInteger(v) ? null : 'an integer';
    case 'str':
      return typeof v === 'string' ? null : 'a string';
    case 'bool':
      return typeof v === 'boolean' ? null : 'a boolean';
    case 'bool?':
      return v === null || typeof v === 'boolean' ? null : 'a boolean or null';
    case 'uint?':
      return v === null || (Number.isSafeInteger(v) && (v as number) >= 0) ? null : 'an integer or null';
    case 'int?':
      return v === null || Number.isSafeInteger(v) ? null : 'an integer or null';
    case 'str?':
      return v === null || typeof v === 'string' ? null : 'a string or null';
    case 'range':
      return isRange(v) ? null : 'an object {pfn, nrPages} with non-negative integers';
    case 'ranges': {
      if (!Array.isArray(v) || v.length === 0 || !v.every(isRange)) {
        return 'a non-empty array of {pfn, nrPages} with non-negative integers';
      }
      return null;
    }
    default:
      return `an unknown kind ${String(kind)}`;
  }
}

export type Validation = { ok: true; event: DaxEvent } | { ok: false; error: string };

/**
 * Validate an untrusted value as a DaxEvent. Unknown extra fields are rejected too: a typo in a
 * hand-edited fixture should be an error, not silently ignored.
 */
export function validateEvent(v: unknown): Validation {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    return { ok: false, error: 'expected a JSON object' };
  }
  const o = v as Record<string, unknown>;
  const type = o.type;
  if (typeof type !== 'string') return { ok: false, error: 'missing "type"' };
  const spec = SPEC_BY_TYPE.get(type);
  if (!spec) return { ok: false, error: `unknown event type ${JSON.stringify(type)}` };
  let known = 1; // "type"
  for (const list of [COMMON, spec]) {
    for (const field of list) {
      const val = o[field.name];
      if (val === undefined) {
        if (field.optional) continue;
        return { ok: false, error: `${type}: missing field "${field.name}"` };
      }
      known++;
      const err = checkKind(val, field.kind);
      if (err !== null) return { ok: false, error: `${type}: field "${field.name}" must be ${err}` };
    }
  }
  if (o.stack !== undefined) {
    known++;
    if (!Array.isArray(o.stack) || !o.stack.every((s) => typeof s === 'string')) {
      return { ok: false, error: `${type}: field "stack" must be an array of strings` };
    }
  }
  if (typeof o.order === 'number' && o.order > MAX_ORDER) {
    return { ok: false, error: `${type}: field "order" must be at most ${MAX_ORDER}` };
  }
  const keys = Object.keys(o);
  if (keys.length !== known) {
    const allowed = new Set(['type', 'stack', ...COMMON.map((x) => x.name), ...spec.map((x) => x.name)]);
    const extra = keys.filter((k) => !allowed.has(k));
    return { ok: false, error: `${type}: unknown field${extra.length > 1 ? 's' : ''} ${extra.join(', ')}` };
  }
  return { ok: true, event: o as unknown as DaxEvent };
}

/** Field names of a type, in schema order (docs and tests use it). */
export function fieldsOf(type: EventType): { name: string; optional: boolean }[] {
  return [...COMMON, ...EVENT_SCHEMA[type]].map((x) => ({ name: x.name, optional: x.optional ?? false }));
}
