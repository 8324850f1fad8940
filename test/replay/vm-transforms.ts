/**
 * Small, documented edits of real VM recordings (test/fixtures/vm/*.ndjson) that turn a healthy
 * stream into one a broken kernel would produce, one violation kind per edit. They are pure
 * functions over the parsed stream, so the fixtures stay unedited recordings and every edit is
 * reviewable here. Each edit picks a real folio of the recording (its pfn is the expected one in
 * the violation) and changes as little as the kind needs; the comment on each says which kernel
 * bug the edited stream stands for.
 */
import type { ViolationKind } from '../../src/checks/types.js';
import type { DaxEvent, EventOf, RefcountModel } from '../../src/events/types.js';
import { FOLL } from '../../src/events/types.js';

export interface Stream {
  /** The header line as recorded. */
  header: { kernel: { release: string; model: RefcountModel } } & Record<string, unknown>;
  events: DaxEvent[];
}

export function parseStream(text: string): Stream {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const [head, ...rest] = lines;
  if (head === undefined) throw new Error('empty stream');
  return { header: JSON.parse(head) as Stream['header'], events: rest.map((l) => JSON.parse(l) as DaxEvent) };
}

export function renderStream(s: Stream): string {
  return [s.header, ...s.events].map((x) => JSON.stringify(x)).join('\n') + '\n';
}

export interface Edited {
  stream: Stream;
  /** The pfn the violation must name. */
  pfn: number;
}

export interface Transform {
  kind: ViolationKind;
  /** The refcount models whose recordings this edit applies to. */
  models: readonly RefcountModel[];
  /** What the edit does, and which kernel bug it stands for. */
  description: string;
  apply(s: Stream): Edited;
}

const NOPAGE = 0x100;

function clone(s: Stream): Stream {
  return structuredClone(s);
}

function indexOf<T extends DaxEvent['type']>(
  s: Stream,
  type: T,
  pred: (e: EventOf<T>) => boolean = () => true,
  from = 0,
): number {
  for (let i = from; i < s.events.length; i++) {
    const e = s.events[i]!;
    if (e.type === type && pred(e as EventOf<T>)) return i;
  }
  throw new Error(`the recording has no matching ${type} event`);
}

function at<T extends DaxEvent['type']>(s: Stream, i: number, _type: T): EventOf<T> {
  return s.events[i] as EventOf<T>;
}

/** The first successful 4 KiB map of the recording: the folio most edits pick. */
function firstPteMap(s: Stream): number {
  return indexOf(s, 'folio_map', (e) => e.order === 0 && (e.ret & NOPAGE) !== 0);
}

/** Inserts `e` right after index i, 1 µs later (stream time must not go backwards). */
function insertAfter(s: Stream, i: number, e: DaxEvent): void {
  s.events.splice(i + 1, 0, e);
}

function probeAttached(s: Stream, probe: string, detail: string): void {
  const first = indexOf(s, 'probe_status');
  const p = at(s, first, 'probe_status');
  insertAfter(s, first, { ...p, probe, attached: true, detail });
}

export const TRANSFORMS: readonly Transform[] = [
  {
    kind: 'map_zero_ref',
    models: ['new', 'old'],
    description:
      'the first 4 KiB folio_map reads refcount 0 after the insert: an insert that took no reference (new) or a page whose idle reference was dropped before the fault (old)',
    apply(src) {
      const s = clone(src);
      const e = at(s, firstPteMap(s), 'folio_map');
      e.refcount = 0;
      return { stream: s, pfn: e.pfn };
    },
  },
  {
    kind: 'refcount_underflow',
    models: ['new'],
    description: 'the first zone_device_free is repeated 1 µs later: a second put of a folio already at 0',
    apply(src) {
      const s = clone(src);
      const i = indexOf(s, 'zone_device_free');
      const e = at(s, i, 'zone_device_free');
      insertAfter(s, i, { ...e, t: e.t + 1000 });
      return { stream: s, pfn: e.pfn };
    },
  },
  {
    kind: 'refcount_underflow',
    models: ['old'],
    description:
      'the first __put_devmap_managed_*_refs reads refcount == refs: the put takes an FS DAX page below its idle 1 (a put with no matching get)',
    apply(src) {
      const s = clone(src);
      const e = at(s, indexOf(s, 'folio_put'), 'folio_put');
      e.refcount = e.refs;
      return { stream: s, pfn: e.pfn };
    },
  },
  {
    kind: 'free_while_mapped',
    models: ['new'],
    description:
      'the first zone_device_free reads mapcount 1: the mapping reference was put before its rmap was removed',
    apply(src) {
      const s = clone(src);
      const e = at(s, indexOf(s, 'zone_device_free'), 'zone_device_free');
      e.mapcount = 1;
      return { stream: s, pfn: e.pfn };
    },
  },
  {
    kind: 'entry_removed_while_busy',
    models: ['new', 'old'],
    description:
      'the first DAX entry removal reads the page one reference above idle (and, old model, as a truncation): truncate freed the entry of a page someone still holds',
    apply(src) {
      const s = clone(src);
      const e = at(s, indexOf(s, 'dax_entry_remove'), 'dax_entry_remove');
      e.refcount = (src.header.kernel.model === 'new' ? 0 : 1) + 1;
      if (src.header.kernel.model === 'old') e.trunc = true;
      return { stream: s, pfn: e.pfn };
    },
  },
  {
    kind: 'idle_refcount_mismatch',
    models: ['new', 'old'],
    description:
      'after the last event, the first mapped folio is announced idle one reference above idle (a leaked get), and the stream ends 31 s later (past the 30 s default)',
    apply(src) {
      const s = clone(src);
      const m = at(s, firstPteMap(s), 'folio_map');
      const last = s.events[s.events.length - 1]!;
      const idle = src.header.kernel.model === 'new' ? 0 : 1;
      // The recording's closing backend_stopped is a gap: a folio suspect across it is no
      // evidence (docs/kernel-model.md §11), so the edit happens before the backend stops.
      const stop = last.type === 'backend_stopped' ? s.events.pop()! : undefined;
      const prev = s.events[s.events.length - 1]!;
      s.events.push({
        t: prev.t + 1000,
        pid: m.pid,
        comm: m.comm,
        type: 'folio_idle',
        pfn: m.pfn,
        order: 0,
        refcount: idle + 1,
      });
      s.events.push({ ...s.events[indexOf(s, 'probe_status')]!, t: prev.t + 31e9 });
      if (stop) s.events.push({ ...stop, t: prev.t + 32e9 });
      return { stream: s, pfn: m.pfn };
    },
  },
  {
    kind: 'compound_pgmap_mismatch',
    models: ['new', 'old'],
    description:
      'a struct-page scanner is declared attached and reports the page after the first mapped one as a compound tail of it with refcount 1 (tails must read 0)',
    apply(src) {
      const s = clone(src);
      probeAttached(s, 'scan', 'struct page scanner (added by the transformation)');
      const i = firstPteMap(s);
      const m = at(s, i, 'folio_map');
      insertAfter(s, i, {
        t: m.t + 1000,
        pid: 0,
        comm: '',
        type: 'refcount_sample',
        pfn: m.pfn + 1,
        refcount: 1,
        mapcount: 0,
        flags: '0x0',
        tail: true,
        headPfn: m.pfn,
        pgmapOk: true,
        order: 0,
        pincount: 0,
      });
      return { stream: s, pfn: m.pfn + 1 };
    },
  },
  {
    kind: 'page_free_missing',
    models: ['new', 'old'],
    description:
      'every registration of the recorded pgmap declares it a DEVICE_PRIVATE one with ->page_free (FS DAX has none), the page_free hook is declared attached, and the first mapped folio is freed 1 µs after its map without the callback',
    apply(src) {
      const s = clone(src);
      probeAttached(s, 'page_free', 'pgmap->ops->page_free (added by the transformation)');
      // Every registration of it: the recording has the sysfs discovery and the kernel's own.
      for (const p of s.events) {
        if (p.type !== 'pgmap_registered') continue;
        p.pgmapType = 'private';
        p.hasPageFree = true;
      }
      const i = firstPteMap(s);
      const m = at(s, i, 'folio_map');
      insertAfter(s, i, {
        t: m.t + 1000,
        pid: m.pid,
        comm: m.comm,
        type: 'zone_device_free',
        pfn: m.pfn,
        order: 0,
        refcount: 0,
        mapcount: 0,
        pageFreeCalled: false,
      });
      return { stream: s, pfn: m.pfn };
    },
  },
  {
    kind: 'devmap_in_new_model',
    models: ['new'],
    description:
      'the first 4 KiB map is attributed to vmf_insert_mixed_mkwrite: a pfn (devmap) insert on a new-model kernel',
    apply(src) {
      const s = clone(src);
      const e = at(s, firstPteMap(s), 'folio_map');
      e.via = 'vmf_insert_mixed_mkwrite';
      return { stream: s, pfn: e.pfn };
    },
  },
  {
    kind: 'devmap_in_new_model',
    models: ['old'],
    description:
      'the mirror: the first 4 KiB map is attributed to vmf_insert_page_mkwrite, a page insert on an old-model kernel whose FS DAX pages are devmap-mapped',
    apply(src) {
      const s = clone(src);
      const e = at(s, firstPteMap(s), 'folio_map');
      e.via = 'vmf_insert_page_mkwrite';
      return { stream: s, pfn: e.pfn };
    },
  },
  {
    kind: 'longterm_pin_on_fsdax',
    models: ['new', 'old'],
    description:
      'the first successful GUP grab of an FS DAX page carries FOLL_LONGTERM: a long-term pin the kernel should have refused',
    apply(src) {
      const s = clone(src);
      const e = at(
        s,
        indexOf(s, 'gup', (g) => (g.op === 'get' || g.op === 'pin') && g.result >= 0),
        'gup',
      );
      e.flags |= FOLL.LONGTERM;
      return { stream: s, pfn: e.pfn };
    },
  },
];
