/**
 * The event model: everything daxmon learns about the kernel arrives as one of these.
 *
 * Events are a discriminated union on `type`. Adding a type is a compile error in every
 * consumer that switches on it (see `assertNever`), which is the point: the state machine,
 * the checks, the codecs and the docs must all learn about it.
 *
 * Units: `t` is nanoseconds of CLOCK_MONOTONIC (the kernel's ktime, `bpf_ktime_get_ns()`);
 * pfns are page frame numbers (4 KiB pages); `order` is log2 of the folio's page count.
 * Refcounts are the kernel's `_refcount` as read; mapcounts are *logical* (raw `_mapcount` + 1,
 * so 0 means unmapped), normalised by the backend.
 */

/** `enum memory_type` in include/linux/memremap.h (identical from 6.1 to 6.18). */
export const MEMORY_TYPES = ['private', 'coherent', 'fs_dax', 'generic', 'pci_p2pdma'] as const;
export type MemoryType = (typeof MEMORY_TYPES)[number];
/** Kernel numeric values: MEMORY_DEVICE_PRIVATE=1 … PCI_P2PDMA=5; 0 is reserved. */
export const MEMORY_TYPE_BY_KERNEL_VALUE: Readonly<Record<number, MemoryType>> = {
  1: 'private',
  2: 'coherent',
  3: 'fs_dax',
  4: 'generic',
  5: 'pci_p2pdma',
};

/**
 * The kernel's ZONE_DEVICE refcount model. `old` is ≤6.14: FS DAX pages idle at refcount 1 and
 * are mapped as pte_devmap without touching refcount or mapcount. `new` is ≥6.15 (the
 * "fs/dax: Fix ZONE_DEVICE page reference counts" series): FS DAX folios idle at 0 and mapping
 * takes a reference and a mapcount like a normal page.
 */
export type RefcountModel = 'old' | 'new';

/** How the folio was put into page tables, named after the kernel function that did it. */
export const MAP_VIAS = [
  'vmf_insert_page_mkwrite',
  'vmf_insert_folio_pmd',
  'vmf_insert_folio_pud',
  'vmf_insert_mixed',
  'vmf_insert_mixed_mkwrite',
  'vmf_insert_pfn_pmd',
  'vmf_insert_pfn_pud',
] as const;
export type MapVia = (typeof MAP_VIAS)[number];

export const GUP_OPS = ['get', 'pin', 'put', 'unpin'] as const;
export type GupOp = (typeof GUP_OPS)[number];

/** The function that waits for busy DAX pages during truncate/hole punch. */
export const LAYOUT_BREAK_FNS = [
  'xfs_break_dax_layouts',
  'ext4_break_layouts',
  'dax_break_layout',
  'dax_break_layout_final',
] as const;
export type LayoutBreakFn = (typeof LAYOUT_BREAK_FNS)[number];
export const BACKENDS = ['libbpf', 'bpftrace', 'scan', 'replay', 'synthetic'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** Fields every event carries. */
export interface EventBase {
  /** CLOCK_MONOTONIC nanoseconds at which the probe fired. */
  t: number;
  /** Thread-group id of the task in whose context the event happened (0 for kernel threads/meta). */
  pid: number;
  /** The task's comm (up to 15 characters). */
  comm: string;
  /** Symbolized kernel stack, innermost first, for events that can become violations. */
  stack?: string[];
}

/** A pfn range of a pgmap: `pfn` .. `pfn + nrPages - 1`. */
export interface PfnRange {
  pfn: number;
  nrPages: number;
}

// ---- dev_pagemap lifecycle -------------------------------------------------------------------

export interface PgmapRegistered extends EventBase {
  type: 'pgmap_registered';
  /** Opaque key identifying the pgmap for the lifetime of the stream (backends use the kernel address). */
  pgmap: string;
  pgmapType: MemoryType;
  ranges: PfnRange[];
  /** `pgmap->vmemmap_shift`: folios of this pgmap are compound of this order (device-dax with align > 4K). */
  vmemmapShift: number;
  /** `pgmap->ops->page_free` is set (PRIVATE/COHERENT/P2PDMA); FS DAX never has one. */
  hasPageFree: boolean;
  /** The memmap lives on the device (`PGMAP_ALTMAP_VALID`, fsdax-mode namespaces). */
  altmap: boolean;
  /** Device name when known (`namespace0.0`, `dax0.0`, `pmem0`). */
  device?: string;
  /** How the backend learned of it: a live registration hook or discovery at start-up. */
  source: 'hook' | 'discovered';
}

export interface PgmapTeardownBegin extends EventBase {
  type: 'pgmap_teardown_begin';
  pgmap: string;
  /**
   * The pgmap's first range, read at teardown: lets daxmon recognise a pgmap it discovered at
   * start-up (from sysfs, without a kernel key) when the kernel tears it down.
   */
  range?: PfnRange;
}

export interface PgmapRefReleased extends EventBase {
  type: 'pgmap_ref_released';
  pgmap: string;
}

export interface PgmapTeardownDone extends EventBase {
  type: 'pgmap_teardown_done';
  pgmap: string;
}

// ---- faults, DAX entries, page-table mappings ------------------------------------------------

export interface DaxFault extends EventBase {
  type: 'dax_fault';
  /** Block device number of the filesystem (`inode->i_sb->s_dev`, kernel encoding). */
  dev: number;
  ino: number;
  pgoff: number;
  /** True for the PMD fault handler, false for the PTE one. */
  pmd: boolean;
  write: boolean;
  /** `vm_fault_t` result bits (VM_FAULT_NOPAGE=0x100, VM_FAULT_FALLBACK=0x800, …). */
  result: number;
}

export interface DaxEntryInsert extends EventBase {
  type: 'dax_entry_insert';
  pfn: number;
  order: number;
  dev: number;
  ino: number;
  index: number;
  /** The entry is a zero-page or empty placeholder (no pmem pfn behind it yet). */
  zero: boolean;
  empty: boolean;
  /** The extent is shared (reflink): `PAGE_MAPPING_DAX_SHARED` / `folio->share`. */
  shared: boolean;
}

export interface DaxEntryRemove extends EventBase {
  type: 'dax_entry_remove';
  pfn: number;
  order: number;
  dev: number;
  ino: number;
  /** Page index in the file; null when the hook could not read it. */
  index: number | null;
  /**
   * Removal on behalf of truncate/hole-punch (`trunc` argument) rather than invalidation; null when
   * the hook cannot see it (new kernels' dax_delete_mapping_range has no such argument).
   */
  trunc: boolean | null;
  refcount: number;
  mapcount: number;
}

export interface FolioMap extends EventBase {
  type: 'folio_map';
  pfn: number;
  order: number;
  via: MapVia;
  write: boolean;
  /** `vm_fault_t` returned by the insert (VM_FAULT_NOPAGE on success). */
  ret: number;
  /** Read after the insert returned. */
  refcount: number;
  mapcount: number;
}

export interface FolioUnmap extends EventBase {
  type: 'folio_unmap';
  pfn: number;
  order: number;
  /** Number of pages whose rmap is being removed (a PMD removes the whole folio). */
  nr: number;
  /** Read *before* the rmap removal and before the put that follows it. */
  refcount: number;
  mapcount: number;
}

// ---- references ---------------------------------------------------------------------------

export interface Gup extends EventBase {
  type: 'gup';
  op: GupOp;
  pfn: number;
  order: number;
  refs: number;
  /** FOLL_* flags as passed (FOLL_GET=1<<1, FOLL_LONGTERM=1<<8, FOLL_PIN=1<<19). */
  flags: number;
  /** 0 on success, negative errno on failure. */
  result: number;
  /** Read after the operation. */
  refcount: number;
  pincount: number;
}

/** `check_vma_flags()` refused a FOLL_LONGTERM pin on an FS DAX vma (the healthy outcome, V11). */
export interface GupLongtermRefused extends EventBase {
  type: 'gup_longterm_refused';
  flags: number;
  result: number;
}

/** Old model only: `__put_devmap_managed_folio_refs()` (6.1: `__put_devmap_managed_page_refs`). */
export interface FolioPut extends EventBase {
  type: 'folio_put';
  pfn: number;
  order: number;
  refs: number;
  /** Read before the put. */
  refcount: number;
}

/** The kernel announced the page idle: `wake_up_var()` on it (old: `&page->_refcount`; new: `page`). */
export interface FolioIdle extends EventBase {
  type: 'folio_idle';
  pfn: number;
  order: number;
  refcount: number;
}

/** `free_zone_device_folio()` (6.1: `free_zone_device_page()`): the refcount reached 0. */
export interface ZoneDeviceFree extends EventBase {
  type: 'zone_device_free';
  pfn: number;
  order: number;
  refcount: number;
  mapcount: number;
  /** The pgmap's `->page_free` callback was seen for this folio (null: callback not probed). */
  pageFreeCalled: boolean | null;
}

// ---- truncate / hole punch --------------------------------------------------------------------

export interface BusyPageFound extends EventBase {
  type: 'busy_page_found';
  dev: number;
  ino: number;
  pfn: number;
  order: number;
  refcount: number;
  mapcount: number;
}

export interface LayoutBreakBegin extends EventBase {
  type: 'layout_break_begin';
  /** Thread id: pairs the begin with its end. */
  tid: number;
  dev: number;
  ino: number;
  fn: LayoutBreakFn;
  /** New model's `dax_break_layout_final` sleeps TASK_UNINTERRUPTIBLE. */
  uninterruptible: boolean;
}

export interface LayoutBreakEnd extends EventBase {
  type: 'layout_break_end';
  tid: number;
  dev: number;
  ino: number;
  fn: LayoutBreakFn;
  /** Number of sleeps on a busy page during the wait, when the backend can count them. */
  sleeps: number | null;
  result: number;
}

// ---- ground truth --------------------------------------------------------------------------

/** A page read directly from its struct page (the scanner). */
export interface RefcountSample extends EventBase {
  type: 'refcount_sample';
  pfn: number;
  refcount: number;
  mapcount: number;
  /** Raw page flags word (hex string: it is 64 bits wide). */
  flags: string;
  /** The page is a compound tail: its word at offset 8 pointed to head + 1. */
  tail: boolean;
  /** For a tail: the pfn of its head page. */
  headPfn: number | null;
  /** The page's (or its head's) pgmap is the one registered for this pfn; null if not checked. */
  pgmapOk: boolean | null;
  order: number;
  pincount: number;
}

// ---- backend meta -----------------------------------------------------------------------------

export interface BackendStarted extends EventBase {
  type: 'backend_started';
  backend: BackendName;
  version: string;
}

export interface BackendStopped extends EventBase {
  type: 'backend_stopped';
  backend: BackendName;
  reason: string;
  exitCode: number | null;
  signal: string | null;
}

export interface EventsLost extends EventBase {
  type: 'events_lost';
  backend: BackendName;
  count: number;
}

/**
 * The daemon's clock ran the time-based checks at `t` (docs/events.md "Replay equals live"):
 * written when the wall-clock timer ticks and a check has a deadline pending, so a replay ticks
 * exactly where the live run did (at most one a second).
 */
export interface ClockTick extends EventBase {
  type: 'clock_tick';
}

/**
 * What the kernel's struct pages said when daxmon asked it to confirm an idle_refcount_mismatch
 * candidate (docs/violations.md "Confirm before you accuse"): the scanner re-read the folio's
 * pages, whose readings went into the stream just before as `refcount_sample` events.
 * confirmed: the kernel holds the folio off its idle refcount, unmapped and unpinned, as daxmon
 * believed; resynced: it does not, and daxmon's counts were replaced by the kernel's; unread: the
 * pages could not be read (no scanner, a fault, a queue full), so nothing was learnt.
 */
export interface FolioConfirmation extends EventBase {
  type: 'folio_confirmation';
  pfn: number;
  check: 'idle_refcount_mismatch';
  outcome: 'confirmed' | 'resynced' | 'unread';
  /** What was read, e.g. "refcount 1, mapcount 0, pincount 0" or why nothing was. */
  detail: string;
}

/** What the kernel said when daxmon asked it to confirm a busy_wait_stuck candidate (docs/kernel-model.md §9). */
export interface WaitConfirmation extends EventBase {
  type: 'wait_confirmation';
  /** The wait asked about: its task and the time of its layout_break_begin. */
  tid: number;
  beginT: number;
  severity: 'warning' | 'error';
  /** confirmed: the task sleeps in the layout-break wait; resynced: it does not (or is gone). */
  outcome: 'confirmed' | 'resynced';
  /** The task exists (resynced with a live task leaves the wait open but uncertain). */
  taskAlive: boolean;
  /** What was read, e.g. "state S, wchan ext4_wait_dax_page". */
  detail: string;
}

/**
 * The kernel skipped runs of a probe's program (docs/kernel-model.md §11): `missed` runs since the
 * last report never produced their event, so they are events lost (reason `recursion_miss`), and
 * a gap in whatever state the probe feeds. `runs`/`misses` are the program's totals as the kernel
 * counts them (`bpf_prog_info.run_cnt`/`recursion_misses`; kprobe `missed`); `runs` is null when
 * run statistics are off. Reports with `missed` 0 only refresh the totals.
 */
export interface ProbeMissed extends EventBase {
  type: 'probe_missed';
  backend: BackendName;
  probe: string;
  program: string;
  missed: number;
  runs: number | null;
  misses: number;
}

export interface ProbeStatus extends EventBase {
  type: 'probe_status';
  backend: BackendName;
  probe: string;
  attached: boolean;
  /** The kernel hook it attached to, or why it did not. */
  detail: string;
}

export type DaxEvent =
  | PgmapRegistered
  | PgmapTeardownBegin
  | PgmapRefReleased
  | PgmapTeardownDone
  | DaxFault
  | DaxEntryInsert
  | DaxEntryRemove
  | FolioMap
  | FolioUnmap
  | Gup
  | GupLongtermRefused
  | FolioPut
  | FolioIdle
  | ZoneDeviceFree
  | BusyPageFound
  | LayoutBreakBegin
  | LayoutBreakEnd
  | RefcountSample
  | BackendStarted
  | BackendStopped
  | EventsLost
  | ProbeStatus
  | ClockTick
  | WaitConfirmation
  | FolioConfirmation
  | ProbeMissed;

export type EventType = DaxEvent['type'];
export type EventOf<T extends EventType> = Extract<DaxEvent, { type: T }>;

/** Every event type, in documentation order. A test checks this matches the union. */
export const EVENT_TYPES = [
  'pgmap_registered',
  'pgmap_teardown_begin',
  'pgmap_ref_released',
  'pgmap_teardown_done',
  'dax_fault',
  'dax_entry_insert',
  'dax_entry_remove',
  'folio_map',
  'folio_unmap',
  'gup',
  'gup_longterm_refused',
  'folio_put',
  'folio_idle',
  'zone_device_free',
  'busy_page_found',
  'layout_break_begin',
  'layout_break_end',
  'refcount_sample',
  'backend_started',
  'backend_stopped',
  'events_lost',
  'probe_status',
  // Appended, never inserted: the binary format's tag is the index here (old recordings stay readable).
  'clock_tick',
  'wait_confirmation',
  'probe_missed',
  'folio_confirmation',
] as const satisfies readonly EventType[];

/** Events that concern one folio and carry its pfn. */
export type FolioEvent = Extract<DaxEvent, { pfn: number }>;

export function isFolioEvent(e: DaxEvent): e is FolioEvent {
  return typeof (e as { pfn?: unknown }).pfn === 'number';
}

export function assertNever(x: never): never {
  throw new Error(`unhandled variant: ${JSON.stringify(x)}`);
}

/** FOLL_* flag bits (mm/internal.h; identical in 6.12 and 6.18). */
export const FOLL = { GET: 1 << 1, LONGTERM: 1 << 8, PCI_P2PDMA: 1 << 10, PIN: 1 << 19 } as const;
/** FOLL_PIN on an order-0 folio adds this to the refcount instead of 1 (include/linux/mm.h). */
export const GUP_PIN_COUNTING_BIAS = 1 << 10;
