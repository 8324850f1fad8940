/**
 * The bpftrace line format (docs/bpftrace.md has the table). One event per line, fields separated
 * by tabs, the type tag first, the task's comm last (so a comm with spaces stays one field).
 * 64-bit values are printed with %lu (bpftrace 0.17 prints %d of a u64 as a negative number).
 * A tag ending in `+` is followed by a kernel stack (`kstack`, one indented frame per line) and
 * a line holding a single `.`. The first line, from BEGIN, is `V <version> <t> <model>`.
 */
export const LINE_FORMAT_VERSION = 1;

/** Field kinds: u = unsigned decimal, i = signed decimal, x = 0x-hex key, s = word. */
export type FieldKind = 'u' | 'i' | 'x' | 's';

/** Every tag and its fields after `t` and `pid` (comm follows them). */
export const LINE_FIELDS = {
  R: ['src:s', 'pgmap:x', 'type:i', 'shift:u', 'pagefree:u', 'altmap:u', 'nrRange:i', 'pfn:u', 'nrPages:u'],
  TB: ['pgmap:x'],
  TR: ['pgmap:x'],
  TD: ['pgmap:x'],
  F: ['pmd:u', 'dev:u', 'ino:u', 'pgoff:u', 'flags:u', 'result:i'],
  EI: ['pfn:u', 'order:u', 'dev:u', 'ino:u', 'index:u', 'eflags:u'],
  ER: ['pfn:u', 'order:u', 'dev:u', 'ino:u', 'index:u', 'trunc:u', 'refcount:i', 'mapcount:i'],
  M: ['via:s', 'pfn:u', 'order:u', 'write:u', 'ret:u', 'refcount:i', 'mapcount:i'],
  U: ['pfn:u', 'order:u', 'nr:i', 'refcount:i', 'mapcount:i'],
  GG: ['pfn:u', 'order:u', 'refs:i', 'flags:u', 'result:i', 'refcount:i', 'pincount:i'],
  GP: ['pfn:u', 'order:u', 'refs:i', 'flags:u', 'refcount:i', 'pincount:i'],
  GL: ['flags:u', 'result:i'],
  DP: ['pfn:u', 'order:u', 'refs:i', 'refcount:i'],
  I: ['pfn:u', 'order:u', 'refcount:i'],
  Z: ['pfn:u', 'order:u', 'refcount:i', 'mapcount:i'],
  B: ['dev:u', 'ino:u', 'pfn:u', 'order:u', 'refcount:i', 'mapcount:i'],
  LB: ['tid:u', 'fn:s', 'dev:u', 'ino:u', 'uninterruptible:u'],
  LE: ['tid:u', 'fn:s', 'dev:u', 'ino:u', 'sleeps:u', 'result:i'],
} as const satisfies Record<string, readonly string[]>;

export type LineTag = keyof typeof LINE_FIELDS;

/**
 * Tags that may be followed by a kernel stack block (printed as `TAG+`). Z and ER carry one only
 * when the free or removal is anomalous: a stack per folio overflowed bpftrace at full speed.
 * LB (one per truncate or hole punch, not per page) always does: a stuck wait's violation names
 * the path that started it.
 */
export const STACK_TAGS: ReadonlySet<LineTag> = new Set<LineTag>(['TB', 'ER', 'DP', 'Z', 'B', 'LB']);

/** Terminates a stack block. */
export const STACK_END = '.';
