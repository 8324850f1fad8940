// SPDX-License-Identifier: GPL-2.0
/*
 * daxmon's CO-RE probes: one object for 6.1, 6.12 and 7.x (old and new ZONE_DEVICE refcount
 * models, docs/kernel-model.md). Every hook of docs/kernel-model.md §8 has a program here; which ones load
 * is decided per host by Node (src/probes/libbpf/plan.ts), which passes program names to the
 * loader (--enable). Nothing here attaches by itself.
 *
 * Program names are PROBE__TYPE__TARGET[__VARIANT]: PROBE is the logical probe (the `probe`
 * label of daxmon_probe_attached), TYPE the program type, TARGET the kernel function or
 * tracepoint. The loader's --list reads the probe name back from the prefix.
 *
 * Each event reads what the kernel holds at that moment (refcount, mapcount, order, pgmap) and
 * sends one fixed-size record (bpf/include/daxmon_record.h) through a ring buffer. Hot hooks
 * test for ZONE_DEVICE first and return, so ordinary page traffic costs a few loads.
 */
#include "daxmon_kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "../include/daxmon_record.h"
#include "daxmon_cfg.h"

char LICENSE[] SEC("license") = "GPL";

/* Written by the loader before load (struct daxmon_cfg in daxmon_cfg.h). */
const volatile struct daxmon_cfg cfg SEC(".rodata.cfg") = {};

/* pgmap pfn ranges for the pfn-based filters; the loader seeds it from --pgmap-range. */
struct daxmon_range ranges[DAXMON_MAX_RANGES] SEC(".data.ranges") = {};

/*
 * Which *_wait_dax_page programs the loader attached (bit = enum daxmon_break_fn of the
 * filesystem's break function). Set after attach, so a span only reports a sleep count when
 * every sleep could have been seen.
 */
volatile __u32 sleep_probes SEC(".data.state") = 0;

/* vmemmap_base read once from the kernel variable whose address the loader found. */
static __u64 vmemmap_cache;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* --ringbuf-mb */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DAXMON_CNT_NR);
	__type(key, u32);
	__type(value, u64);
} counters SEC(".maps");

#define STACK_DEPTH 48
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 8192);
	__uint(key_size, sizeof(u32));
	__uint(value_size, STACK_DEPTH * sizeof(u64));
} stacks SEC(".maps");

/* Arguments a kprobe keeps for its kretprobe (kretprobes see only the return value). */
struct stash {
	u64 a[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, u64);
	__type(value, struct stash);
} stash SEC(".maps");

/*
 * pgmaps already reported (registered or discovered): one lookup instead of a scan of the range
 * table, which keeps the hot hooks small enough for the 6.1 verifier.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, u64);
	__type(value, u32);
} known_pgmaps SEC(".maps");

/* Sleeps on a busy DAX page per thread, between a layout-break span's begin and end. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, u32);
	__type(value, u64);
} sleeps SEC(".maps");

/* ---- constants the kernel fixes ------------------------------------------------------------ */

/* fs/dax.c: DAX entries are xarray values; bit 0 of the pointer marks a value (xa_mk_value). */
#define DAX_SHIFT 4
#define DAX_LOCKED (1UL << 0)
#define DAX_PMD (1UL << 1)
#define DAX_ZERO_PAGE (1UL << 2)
#define DAX_EMPTY (1UL << 3)
#define PMD_ORDER 9
#define PUD_ORDER 18
/* include/linux/iomap.h, identical 6.1..7.x */
#define IOMAP_F_SHARED (1U << 2)
/* include/linux/mm.h: FOLL_PIN on a small folio adds this instead of 1 */
#define GUP_PIN_COUNTING_BIAS 1024
/* dev_pagemap.flags (include/linux/memremap.h) */
#define PGMAP_ALTMAP_VALID (1U << 0)
/* pfn_t (≤6.17) keeps PFN_DEV/PFN_MAP/... in the top 12 bits (include/linux/pfn_t.h) */
#define PFN_VALUE_MASK ((1ULL << 52) - 1)
#define EOPNOTSUPP 95
/*
 * Lowest kernel address with 5-level paging (LA57: qemu -cpu max guests have it); 4-level kernels
 * start at 0xffff800000000000, and user space ends far below either.
 */
#define KERNEL_ADDR_MIN 0xff00000000000000ULL

/* The loader's stash keys: one per kprobe/kretprobe pair. */
enum stash_hook {
	H_MEMUNMAP = 1,
	H_INSERT_ENTRY,
	H_PAGE_MKWRITE,
	H_FOLIO_PMD,
	H_FOLIO_PUD,
	H_MIXED,
	H_MIXED_MKWRITE,
	H_PFN_PMD,
	H_PFN_PMD_PROT,
	H_PFN_PUD,
	H_PFN_PUD_PROT,
	H_GRAB_FOLIO,
	H_GRAB_FOLIO_FAST,
	H_GRAB_PAGE,
	H_GRAB_FOLIO_PAGE,
	H_GUP_PUT,
	H_CHECK_VMA,
	H_BUSY,
	H_BREAK,
};

/* ---- small helpers --------------------------------------------------------------------------- */

/*
 * fentry/fexit arguments as plain scalars. The verifier types BTF pointer arguments and refuses
 * the arithmetic done on them below (vmemmap offsets, compound_head masks); bpf_get_func_arg()
 * (5.17+, inlined by the verifier) hands over the raw register value. It also counts a pfn_t
 * (a one-u64 struct up to 6.17) as the single slot it occupies.
 */
static __always_inline u64 arg(void *ctx, u32 n)
{
	u64 v = 0;

	bpf_get_func_arg(ctx, n, &v);
	return v;
}

static __always_inline u64 ret_of(void *ctx)
{
	u64 v = 0;

	bpf_get_func_ret(ctx, &v);
	return v;
}

static __always_inline void count(u32 idx)
{
	u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (v)
		(*v)++;
}

static __always_inline u64 rd8(u64 addr)
{
	u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), (const void *)addr);
	return v;
}

static __always_inline u64 page_size_bytes(void)
{
	return bpf_core_type_size(struct page);
}

static __always_inline u64 vmemmap(void)
{
	u64 v = vmemmap_cache;

	if (v || !cfg.vmemmap_base_addr)
		return v;
	v = rd8(cfg.vmemmap_base_addr);
	vmemmap_cache = v;
	return v;
}

/* SPARSEMEM_VMEMMAP page_to_pfn(): struct pages form one array starting at vmemmap_base. */
static __always_inline u64 page_to_pfn(u64 page)
{
	u64 v = vmemmap();

	if (!v || page < v)
		return 0;
	return (page - v) / page_size_bytes();
}

static __always_inline u64 pfn_to_page(u64 pfn)
{
	u64 v = vmemmap();

	return v ? v + pfn * page_size_bytes() : 0;
}

/*
 * compound_head(): bit 0 of the word at offset 8 marks a tail. Up to 6.x (and 7.x without
 * HugeTLB vmemmap optimization) the rest is a pointer to the head; 7.x with
 * compound_info_has_mask() stores a mask to AND with the tail's address (include/linux/page-flags.h
 * _compound_head(), "mm: rework compound_head() for power-of-2 sizeof(struct page)").
 */
static __always_inline u64 head_of(u64 page)
{
	u64 info = rd8(page + 8);
	u64 cand;

	if (!(info & 1))
		return page;
	cand = info - 1;
	if (cand <= page && page - cand < (1ULL << 26))
		return cand;
	return page & info;
}

/* page_zonenum() (include/linux/mm.h): the zone sits in the top bits of page->flags. */
static __always_inline bool page_is_zone_device(u64 page)
{
	u64 flags;

	if (!cfg.zone_mask)
		return false;
	flags = rd8(page);
	return ((flags >> cfg.zone_shift) & cfg.zone_mask) == cfg.zone_device;
}

static __always_inline bool pfn_in_ranges(u64 pfn)
{
	for (int i = 0; i < DAXMON_MAX_RANGES; i++) {
		u64 end = ranges[i].end_pfn;

		if (end && pfn >= ranges[i].start_pfn && pfn < end)
			return true;
	}
	return false;
}


/* The pgmap of the last folio seen: most events hit the same one, and then cost one load. */
static u64 last_pgmap;

/* Next slot of the range table to try (wraps); slots are reused once a teardown frees them. */
static u32 range_cursor;

/*
 * The caller makes sure each (pgmap, range) is added once (known_pgmaps). A free slot is found
 * from a shared cursor with a few probes rather than a scan: a scan nested in the discovery loop
 * multiplies what the verifier has to walk (6.1 gave up at 1M instructions).
 */
static __always_inline void range_add(u64 start, u64 end, u64 pgmap)
{
	for (int probe = 0; probe < 4; probe++) {
		u32 i = __sync_fetch_and_add(&range_cursor, 1) % DAXMON_MAX_RANGES;

		if (ranges[i].pgmap || ranges[i].end_pfn)
			continue;
		/* claim the slot; a racing CPU that loses tries another one */
		if (__sync_val_compare_and_swap(&ranges[i].pgmap, 0, pgmap) != 0)
			continue;
		ranges[i].start_pfn = start;
		ranges[i].end_pfn = end;
		return;
	}
	count(DAXMON_CNT_RANGES_FULL);
}

static __always_inline void range_del(u64 pgmap)
{
	bpf_map_delete_elem(&known_pgmaps, &pgmap);
	last_pgmap = 0;
	for (int i = 0; i < DAXMON_MAX_RANGES; i++) {
		if (ranges[i].pgmap != pgmap)
			continue;
		ranges[i].end_pfn = 0;
		ranges[i].start_pfn = 0;
		ranges[i].pgmap = 0;
	}
}

/* What a record says about a folio. */
struct finfo {
	u64 folio;
	u64 pfn;
	u64 pgmap;
	s32 refcount;
	s32 mapcount; /* logical: raw + 1 */
	u32 order;
	u32 pincount;
};

/*
 * The head page and its first tail page: every folio field a record needs lies in these 128 bytes
 * (include/linux/mm_types.h, 6.1 to 7.x), so one bpf_probe_read_kernel() replaces one per field.
 * Helper calls are most of what a record costs.
 */
#define FOLIO_SNAP 128
struct folio_snap {
	u8 b[FOLIO_SNAP];
};

/* A field of the snapshot at a CO-RE offset (a constant once libbpf has relocated it). */
#define SNAP(snap, type, off) ((off) <= FOLIO_SNAP - sizeof(type) ? *(type *)&(snap)->b[(off)] : 0)

/*
 * Read the folio's counts, order and pgmap. With `check`, first test that it is a ZONE_DEVICE
 * folio and return false (having read nothing else) when it is not: the hot hooks' filter.
 */
static __always_inline bool read_folio_dev(u64 folio, struct finfo *fi, bool check)
{
	struct folio_snap snap;
	u64 flags;
	s32 mc;

	if (bpf_probe_read_kernel(&snap, sizeof(snap), (const void *)folio))
		return false;
	flags = *(u64 *)&snap.b[0];
	if (check) {
		if (cfg.zone_mask) {
			if (((flags >> cfg.zone_shift) & cfg.zone_mask) != cfg.zone_device)
				return false;
		} else if (!pfn_in_ranges(page_to_pfn(folio))) {
			return false;
		}
	}
	fi->folio = folio;
	fi->pfn = page_to_pfn(folio);
	fi->refcount = SNAP(&snap, s32, bpf_core_field_offset(struct folio, _refcount));
	mc = SNAP(&snap, s32, bpf_core_field_offset(struct folio, _mapcount));
	fi->order = 0;
	fi->pincount = 0;
	if (flags & (1ULL << bpf_core_enum_value(enum pageflags, PG_head))) {
		if (bpf_core_field_exists(((struct folio___61 *)0)->_folio_order)) {
			/* 6.1: folio_order() = _folio_order, mapcount in compound_mapcount */
			fi->order = SNAP(&snap, u8, bpf_core_field_offset(struct folio___61, _folio_order));
			mc = SNAP(&snap, s32, bpf_core_field_offset(struct folio___61, _total_mapcount));
		} else {
			/* 6.12+: folio_order() = _flags_1 & 0xff; folio_mapcount() = _large_mapcount + 1 */
			fi->order = SNAP(&snap, u64, bpf_core_field_offset(struct folio, _flags_1)) & 0xff;
			if (bpf_core_field_exists(((struct folio___large_mapcount *)0)->_large_mapcount))
				mc = SNAP(&snap, s32,
					  bpf_core_field_offset(struct folio___large_mapcount, _large_mapcount));
		}
		fi->pincount = SNAP(&snap, s32, bpf_core_field_offset(struct folio, _pincount));
	} else if (fi->refcount >= GUP_PIN_COUNTING_BIAS) {
		/* small folios count pins in the refcount (folio_maybe_dma_pinned()) */
		fi->pincount = fi->refcount / GUP_PIN_COUNTING_BIAS;
	}
	fi->mapcount = mc + 1;
	/* the pgmap pointer: page->pgmap up to 6.14, folio->pgmap from 6.15 (both word 1) */
	if (bpf_core_field_exists(((struct folio___new *)0)->pgmap))
		fi->pgmap = SNAP(&snap, u64, bpf_core_field_offset(struct folio___new, pgmap));
	else
		fi->pgmap = SNAP(&snap, u64, bpf_core_field_offset(struct page___old, pgmap));
	return true;
}

static __always_inline void read_folio(u64 folio, struct finfo *fi)
{
	read_folio_dev(folio, fi, false);
}

static __always_inline bool new_model(void)
{
	/* docs/kernel-model.md §6 step 2: struct folio has pgmap from 6.15 (the new refcount model) */
	return bpf_core_field_exists(((struct folio___new *)0)->pgmap);
}

static __always_inline void inode_ids(u64 inode, u64 *dev, u64 *ino)
{
	struct inode *i = (struct inode *)inode;

	if (!inode) {
		*dev = 0;
		*ino = 0;
		return;
	}
	*dev = BPF_CORE_READ(i, i_sb, s_dev);
	*ino = BPF_CORE_READ_BITFIELD_PROBED(i, i_ino);
}

static __always_inline u64 mapping_inode(u64 mapping)
{
	if (mapping < KERNEL_ADDR_MIN)
		return 0;
	return (u64)BPF_CORE_READ((struct address_space *)mapping, host);
}

/* ---- records ----------------------------------------------------------------------------------- */

static __always_inline struct daxmon_rec *rec_new(u16 type)
{
	struct daxmon_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	u64 id;

	if (!r) {
		count(DAXMON_CNT_LOST);
		return NULL;
	}
	__builtin_memset(r, 0, sizeof(*r));
	id = bpf_get_current_pid_tgid();
	r->t = bpf_ktime_get_ns();
	r->type = type;
	r->pid = id >> 32;
	r->tid = (u32)id;
	r->stack_id = -1;
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	return r;
}

/*
 * Submit without waking the reader unless a batch is waiting (performance-notes.md: a wake-up
 * per record costs ~5 µs; the loader polls on a short timer instead).
 */
static __always_inline void rec_send(void *ctx, struct daxmon_rec *r, bool want_stack)
{
	u64 avail;

	if (ctx && (cfg.stacks == DAXMON_STACKS_ALL || (want_stack && cfg.stacks != DAXMON_STACKS_NONE))) {
		long id = bpf_get_stackid(ctx, &stacks, 0);

		if (id >= 0)
			r->stack_id = id;
		else
			count(DAXMON_CNT_NO_STACK);
	}
	avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	bpf_ringbuf_submit(r, avail > cfg.wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

static __always_inline void rec_folio(struct daxmon_rec *r, struct finfo *fi)
{
	r->pfn = fi->pfn;
	r->refcount = fi->refcount;
	r->mapcount = fi->mapcount;
	r->order = fi->order;
}

static __always_inline void stash_put(u32 hook, u64 a0, u64 a1, u64 a2, u64 a3)
{
	u64 key = (bpf_get_current_pid_tgid() << 8) | hook;
	struct stash s = { .a = { a0, a1, a2, a3 } };

	bpf_map_update_elem(&stash, &key, &s, BPF_ANY);
}

static __always_inline bool stash_take(u32 hook, struct stash *out)
{
	u64 key = (bpf_get_current_pid_tgid() << 8) | hook;
	struct stash *s = bpf_map_lookup_elem(&stash, &key);

	if (!s)
		return false;
	*out = *s;
	bpf_map_delete_elem(&stash, &key);
	return true;
}

/* 7.x renamed dev_pagemap_ops.page_free(page) to folio_free(folio) (include/linux/memremap.h) */
static __always_inline bool ops_has_free(const struct dev_pagemap_ops *ops)
{
	if (bpf_core_field_exists(((struct dev_pagemap_ops___folio *)0)->folio_free))
		return BPF_CORE_READ((struct dev_pagemap_ops___folio *)ops, folio_free) != 0;
	return BPF_CORE_READ(ops, page_free) != 0;
}

/* ---- pgmaps ------------------------------------------------------------------------------------- */

static __always_inline int emit_pgmap(void *ctx, u64 pgmap, u64 start_pfn, u64 nr_pages,
				      u64 index, u16 extra_flags)
{
	struct dev_pagemap *pm = (struct dev_pagemap *)pgmap;
	const struct dev_pagemap_ops *ops = BPF_CORE_READ(pm, ops);
	struct daxmon_rec *r = rec_new(DAXMON_REC_PGMAP_REGISTERED);

	if (!r)
		return 0;
	r->key = pgmap;
	r->pfn = start_pfn;
	r->a = nr_pages;
	r->b = index;
	r->d = BPF_CORE_READ(pm, nr_range);
	r->sub = BPF_CORE_READ(pm, type);
	r->order = BPF_CORE_READ(pm, vmemmap_shift);
	r->flags = extra_flags;
	if (ops && ops_has_free(ops))
		r->flags |= DAXMON_F_HAS_PAGE_FREE;
	if (BPF_CORE_READ(pm, flags) & PGMAP_ALTMAP_VALID)
		r->flags |= DAXMON_F_ALTMAP;
	rec_send(ctx, r, false);
	return 0;
}

static __always_inline void read_range(u64 pgmap, u32 i, struct range *out)
{
	u64 base = pgmap + bpf_core_field_offset(struct dev_pagemap, range);

	out->start = 0;
	out->end = 0;
	bpf_probe_read_kernel(out, sizeof(*out), (void *)(base + i * sizeof(struct range)));
}

/* pmem and device-dax pgmaps have one range; device-dax may grow a few after resizing */
#define MAX_PGMAP_RANGES 8

/* Claim the right to report a pgmap: true for exactly one caller. */
static __always_inline bool pgmap_claim(u64 pgmap)
{
	u32 one = 1;

	if (bpf_map_lookup_elem(&known_pgmaps, &pgmap))
		return false;
	return bpf_map_update_elem(&known_pgmaps, &pgmap, &one, BPF_NOEXIST) == 0;
}

/*
 * A pgmap seen on a folio before any registration hook fired (registered before daxmon started):
 * report its ranges once and teach the filter their pfns. A global function: the verifier checks
 * it once, on its own, instead of once per path of every caller (6.1 spent 150k-300k
 * instructions per program on it inline). Global functions take no context, so these records
 * carry no stack.
 */
__noinline int discover_pgmap(u64 pgmap)
{
	int nr;

	if (pgmap < KERNEL_ADDR_MIN)
		return 0;
	if (!pgmap_claim(pgmap))
		return 1;
	nr = BPF_CORE_READ((struct dev_pagemap *)pgmap, nr_range);
	for (int i = 0; i < MAX_PGMAP_RANGES && i < nr; i++) {
		struct range rg;
		u64 start, nrp;

		read_range(pgmap, i, &rg);
		if (rg.end <= rg.start)
			continue;
		start = rg.start >> 12;
		nrp = (rg.end - rg.start + 1) >> 12;
		range_add(start, start + nrp, pgmap);
		emit_pgmap(NULL, pgmap, start, nrp, i, DAXMON_F_DISCOVERED);
	}
	return 1;
}

static __always_inline void note_pgmap(u64 pgmap)
{
	if (pgmap == last_pgmap)
		return;
	if (discover_pgmap(pgmap))
		last_pgmap = pgmap;
}

static __always_inline int on_memmap_init(void *ctx, u64 start_pfn, u64 nr_pages, u64 pgmap,
					  bool after)
{
	int nr = BPF_CORE_READ((struct dev_pagemap *)pgmap, nr_range);
	u64 index = ~0ULL;
	u32 one = 1;

	for (int i = 0; i < MAX_PGMAP_RANGES && i < nr; i++) {
		struct range rg;

		read_range(pgmap, i, &rg);
		if ((rg.start >> 12) == start_pfn) {
			index = i;
			break;
		}
	}
	bpf_map_update_elem(&known_pgmaps, &pgmap, &one, BPF_ANY);
	range_add(start_pfn, start_pfn + nr_pages, pgmap);
	/*
	 * Self-check of the zone layout the loader derived: memmap_init_zone_device() has just set
	 * ZONE_DEVICE on every page of the range (the last one: with an altmap the first pages hold
	 * the memmap itself, mm/mm_init.c).
	 */
	if (after && nr_pages && cfg.zone_mask && vmemmap() &&
	    !page_is_zone_device(pfn_to_page(start_pfn + nr_pages - 1)))
		count(DAXMON_CNT_ZONE_MISMATCH);
	return emit_pgmap(ctx, pgmap, start_pfn, nr_pages, index, 0);
}

/* memmap_init_zone_device(zone, start_pfn, nr_pages, pgmap): once per range, 6.1..7.x */
SEC("fexit/memmap_init_zone_device")
int pgmap_register__fexit__memmap_init_zone_device(u64 *ctx)
{
	return on_memmap_init(ctx, arg(ctx, 1), arg(ctx, 2), arg(ctx, 3), true);
}

SEC("kprobe/memmap_init_zone_device")
int BPF_KPROBE(pgmap_register__kprobe__memmap_init_zone_device, void *zone,
	       unsigned long start_pfn, unsigned long nr_pages, struct dev_pagemap *pgmap)
{
	return on_memmap_init(ctx, start_pfn, nr_pages, (u64)pgmap, false);
}

static __always_inline int on_teardown_begin(void *ctx, u64 pgmap)
{
	struct daxmon_rec *r = rec_new(DAXMON_REC_PGMAP_TEARDOWN_BEGIN);
	struct range rg;

	if (!r)
		return 0;
	read_range(pgmap, 0, &rg);
	r->key = pgmap;
	if (rg.end > rg.start) {
		r->pfn = rg.start >> 12;
		r->a = (rg.end - rg.start + 1) >> 12;
	}
	rec_send(ctx, r, true);
	return 0;
}

static __always_inline int on_teardown_done(void *ctx, u64 pgmap)
{
	struct daxmon_rec *r;

	range_del(pgmap);
	r = rec_new(DAXMON_REC_PGMAP_TEARDOWN_DONE);
	if (!r)
		return 0;
	r->key = pgmap;
	rec_send(ctx, r, false);
	return 0;
}

/* memunmap_pages(pgmap): kills pgmap->ref, waits for it, removes the memmap (mm/memremap.c) */
SEC("fentry/memunmap_pages")
int pgmap_teardown__fentry__memunmap_pages(u64 *ctx)
{
	return on_teardown_begin(ctx, arg(ctx, 0));
}

SEC("fexit/memunmap_pages")
int pgmap_teardown__fexit__memunmap_pages(u64 *ctx)
{
	return on_teardown_done(ctx, arg(ctx, 0));
}

SEC("kprobe/memunmap_pages")
int BPF_KPROBE(pgmap_teardown__kprobe__memunmap_pages, struct dev_pagemap *pgmap)
{
	stash_put(H_MEMUNMAP, (u64)pgmap, 0, 0, 0);
	return on_teardown_begin(ctx, (u64)pgmap);
}

SEC("kretprobe/memunmap_pages")
int BPF_KRETPROBE(pgmap_teardown__kretprobe__memunmap_pages)
{
	struct stash s;

	if (!stash_take(H_MEMUNMAP, &s))
		return 0;
	return on_teardown_done(ctx, s.a[0]);
}

/* dev_pagemap_percpu_release(ref): pgmap->ref reached zero; the pgmap is container_of(ref) */
static __always_inline int on_ref_release(void *ctx, u64 ref)
{
	struct daxmon_rec *r = rec_new(DAXMON_REC_PGMAP_REF_RELEASED);

	if (!r)
		return 0;
	r->key = ref - bpf_core_field_offset(struct dev_pagemap, ref);
	rec_send(ctx, r, false);
	return 0;
}

SEC("fentry/dev_pagemap_percpu_release")
int pgmap_ref_release__fentry__dev_pagemap_percpu_release(u64 *ctx)
{
	return on_ref_release(ctx, arg(ctx, 0));
}

SEC("kprobe/dev_pagemap_percpu_release")
int BPF_KPROBE(pgmap_ref_release__kprobe__dev_pagemap_percpu_release, struct percpu_ref *ref)
{
	return on_ref_release(ctx, (u64)ref);
}

/* ---- DAX faults --------------------------------------------------------------------------------- */

static __always_inline int emit_fault(void *ctx, u64 dev, u64 ino, u64 pgoff, u32 vmf_flags,
				      int result, bool pmd)
{
	struct daxmon_rec *r = rec_new(DAXMON_REC_DAX_FAULT);

	if (!r)
		return 0;
	r->a = dev;
	r->b = ino;
	r->d = pgoff;
	r->ret = result;
	if (pmd)
		r->flags |= DAXMON_F_PMD;
	if (vmf_flags & FAULT_FLAG_WRITE)
		r->flags |= DAXMON_F_WRITE;
	rec_send(ctx, r, false);
	return 0;
}

/*
 * tp_btf and fexit hand over BTF-typed pointers, which the verifier lets a program dereference
 * directly (a relocated load, faults caught by the exception table): no helper call per field.
 */
static __always_inline void inode_ids_btf(struct inode *inode, u64 *dev, u64 *ino)
{
	struct super_block *sb;

	*dev = 0;
	*ino = 0;
	if (!inode)
		return;
	sb = inode->i_sb;
	if (sb)
		*dev = sb->s_dev;
	*ino = inode->i_ino;
}

static __always_inline int on_fault_btf(void *ctx, struct inode *inode, struct vm_fault *vmf,
					int result, bool pmd)
{
	u64 dev, ino;

	inode_ids_btf(inode, &dev, &ino);
	return emit_fault(ctx, dev, ino, vmf->pgoff, vmf->flags, result, pmd);
}

/* include/trace/events/fs_dax.h: TP_PROTO(inode, vmf, result) / (inode, vmf, max_pgoff, result) */
SEC("tp_btf/dax_pte_fault_done")
int BPF_PROG(dax_fault_pte__tp_btf__dax_pte_fault_done, struct inode *inode, struct vm_fault *vmf,
	     int result)
{
	return on_fault_btf(ctx, inode, vmf, result, false);
}

SEC("tp_btf/dax_pmd_fault_done")
int BPF_PROG(dax_fault_pmd__tp_btf__dax_pmd_fault_done, struct inode *inode, struct vm_fault *vmf,
	     unsigned long max_pgoff, int result)
{
	return on_fault_btf(ctx, inode, vmf, result, true);
}

SEC("tracepoint/fs_dax/dax_pte_fault_done")
int dax_fault_pte__tracepoint__dax_pte_fault_done(struct trace_event_raw_dax_pte_fault_class *tp)
{
	return emit_fault(tp, BPF_CORE_READ(tp, dev), BPF_CORE_READ(tp, ino),
			  BPF_CORE_READ(tp, pgoff), BPF_CORE_READ(tp, flags), BPF_CORE_READ(tp, result),
			  false);
}

SEC("tracepoint/fs_dax/dax_pmd_fault_done")
int dax_fault_pmd__tracepoint__dax_pmd_fault_done(struct trace_event_raw_dax_pmd_fault_class *tp)
{
	return emit_fault(tp, BPF_CORE_READ(tp, dev), BPF_CORE_READ(tp, ino),
			  BPF_CORE_READ(tp, pgoff), BPF_CORE_READ(tp, flags), BPF_CORE_READ(tp, result),
			  true);
}

/* ---- DAX entries ------------------------------------------------------------------------------- */

/*
 * dax_insert_entry(xas, vmf, iter, entry, pfn, flags) returns the entry now in the mapping. It
 * associates the folio only when the old entry was a zero or empty placeholder, or the extent is
 * shared; otherwise it returns the old entry unchanged (fs/dax.c, 6.1..7.x). So a new
 * association is exactly "returned entry != entry passed in".
 */
static __always_inline int emit_entry_insert(void *ctx, u64 ret, bool shared, u64 dev, u64 ino,
					     u64 index)
{
	struct daxmon_rec *r = rec_new(DAXMON_REC_DAX_ENTRY_INSERT);
	u64 val;

	if (!r)
		return 0;
	val = ret >> 1;
	r->pfn = val >> DAX_SHIFT;
	r->order = (val & DAX_PMD) ? PMD_ORDER : 0;
	if (val & DAX_ZERO_PAGE)
		r->flags |= DAXMON_F_ZERO;
	if (val & DAX_EMPTY)
		r->flags |= DAXMON_F_EMPTY;
	if (shared)
		r->flags |= DAXMON_F_SHARED;
	r->a = dev;
	r->b = ino;
	r->d = index;
	rec_send(ctx, r, false);
	return 0;
}

/* kretprobe path: the stashed arguments are plain numbers, read through probe reads */
static __always_inline int on_insert_entry(void *ctx, u64 xas, u64 vmf, u64 iter, u64 entry,
					   u64 ret)
{
	u64 inode, dev, ino;
	bool shared;

	if (ret == entry || !(ret & 1))
		return 0;
	shared = BPF_CORE_READ((struct iomap_iter *)iter, iomap.flags) & IOMAP_F_SHARED;
	inode = (u64)BPF_CORE_READ((struct vm_fault *)vmf, vma, vm_file, f_mapping, host);
	inode_ids(inode, &dev, &ino);
	return emit_entry_insert(ctx, ret, shared, dev, ino,
				 BPF_CORE_READ((struct xa_state *)xas, xa_index));
}

/* pfn is pfn_t (a u64 in a struct) up to 6.17 and unsigned long in 7.x: one register either way */
SEC("fexit/dax_insert_entry")
int BPF_PROG(dax_entry_insert__fexit__dax_insert_entry, struct xa_state *xas, struct vm_fault *vmf,
	     struct iomap_iter *iter, void *entry)
{
	u64 ret = ret_of(ctx), dev, ino;
	struct vm_area_struct *vma;
	struct file *file;

	if (ret == (u64)entry || !(ret & 1))
		return 0;
	vma = vmf->vma;
	file = vma ? vma->vm_file : NULL;
	inode_ids_btf(file ? file->f_mapping->host : NULL, &dev, &ino);
	return emit_entry_insert(ctx, ret, iter->iomap.flags & IOMAP_F_SHARED, dev, ino,
				 xas->xa_index);
}

SEC("kprobe/dax_insert_entry")
int BPF_KPROBE(dax_entry_insert__kprobe__dax_insert_entry, struct xa_state *xas,
	       struct vm_fault *vmf, struct iomap_iter *iter, void *entry)
{
	stash_put(H_INSERT_ENTRY, (u64)xas, (u64)vmf, (u64)iter, (u64)entry);
	return 0;
}

SEC("kretprobe/dax_insert_entry")
int BPF_KRETPROBE(dax_entry_insert__kretprobe__dax_insert_entry, void *ret)
{
	struct stash s;

	if (!stash_take(H_INSERT_ENTRY, &s))
		return 0;
	return on_insert_entry(ctx, s.a[0], s.a[1], s.a[2], s.a[3], (u64)ret);
}

/*
 * dax_disassociate_entry(entry, mapping, trunc): the entry's folio leaves the file. It returns
 * at once for zero and empty entries (fs/dax.c). 6.1/6.12 keep it out of line; Debian's 7.3
 * build has only the clone dax_disassociate_entry.isra.0(entry) (mapping and trunc dropped,
 * verified by disassembly), which only a kprobe can reach. trunc < 0: not known.
 */
static __always_inline int on_disassociate(void *ctx, u64 entry, u64 mapping, int trunc)
{
	struct daxmon_rec *r;
	struct finfo fi = {};
	u64 val, page, inode, dev, ino, index = ~0ULL;
	bool suspicious;

	if (!(entry & 1)) {
		count(DAXMON_CNT_BAD_ARGS);
		return 0;
	}
	val = entry >> 1;
	if (val & (DAX_ZERO_PAGE | DAX_EMPTY))
		return 0;
	page = pfn_to_page(val >> DAX_SHIFT);
	if (page) {
		if (!read_folio_dev(head_of(page), &fi, true)) {
			count(DAXMON_CNT_BAD_ARGS);
			return 0;
		}
		note_pgmap(fi.pgmap);
	}
	r = rec_new(DAXMON_REC_DAX_ENTRY_REMOVE);
	if (!r)
		return 0;
	rec_folio(r, &fi);
	r->pfn = val >> DAX_SHIFT;
	r->order = (val & DAX_PMD) ? PMD_ORDER : 0;
	if (page) {
		/* a plain local: BPF_CORE_READ would record fi's own field access as a relocation */
		struct folio *f = (struct folio *)fi.folio;
		u64 fmap = (u64)BPF_CORE_READ(f, mapping);

		if (!mapping)
			mapping = fmap;
		/* shared extents: 6.1/6.12 mapping == PAGE_MAPPING_DAX_SHARED (0x1); 7.x NULL */
		if (fmap >= KERNEL_ADDR_MIN)
			index = BPF_CORE_READ(f, index);
	}
	inode = mapping_inode(mapping);
	inode_ids(inode, &dev, &ino);
	r->a = dev;
	r->b = ino;
	r->d = index;
	if (trunc > 0)
		r->flags |= DAXMON_F_TRUNC;
	else if (trunc < 0)
		r->flags |= DAXMON_F_TRUNC_UNKNOWN;
	/* V4: new model idle is 0 and unmapped; old model idle is 1 */
	suspicious = new_model() ? (fi.refcount != 0 || fi.mapcount != 0) : fi.refcount > 1;
	rec_send(ctx, r, suspicious);
	return 0;
}

SEC("fentry/dax_disassociate_entry")
int dax_entry_remove__fentry__dax_disassociate_entry(u64 *ctx)
{
	return on_disassociate(ctx, arg(ctx, 0), arg(ctx, 1), (arg(ctx, 2) & 0xff) ? 1 : 0);
}

SEC("kprobe/dax_disassociate_entry")
int BPF_KPROBE(dax_entry_remove__kprobe__dax_disassociate_entry, void *entry,
	       struct address_space *mapping, bool trunc)
{
	return on_disassociate(ctx, (u64)entry, (u64)mapping, trunc ? 1 : 0);
}

/* For the .isra clone: attach with --enable PROG@dax_disassociate_entry.isra.N */
SEC("kprobe/dax_disassociate_entry")
int BPF_KPROBE(dax_entry_remove__kprobe__dax_disassociate_entry__entry_only, void *entry)
{
	return on_disassociate(ctx, (u64)entry, 0, -1);
}

/* ---- page-table inserts ------------------------------------------------------------------------ */

/* fi: the folio as read after the insert, or all zero when the pfn has no struct page we can read */
static __always_inline int emit_map(void *ctx, struct finfo *fi, u64 page_pfn, u8 via, bool write,
				    u32 ret, bool pfn_insert, u8 min_order)
{
	struct daxmon_rec *r;
	bool suspicious;

	if (fi->folio)
		note_pgmap(fi->pgmap);
	r = rec_new(DAXMON_REC_FOLIO_MAP);
	if (!r)
		return 0;
	rec_folio(r, fi);
	if (!fi->folio)
		r->pfn = page_pfn;
	/*
	 * A PMD/PUD pfn insert maps 2 MiB/1 GiB of order-0 struct pages (old-model pmem is never
	 * compound): report the extent of the mapping.
	 */
	if (r->order < min_order)
		r->order = min_order;
	r->b = page_pfn;
	r->sub = via;
	r->ret = ret;
	if (write)
		r->flags |= DAXMON_F_WRITE;
	/*
	 * V1: a page-inserting map in the new model must leave a reference, and an old-model page never
	 * drops below its idle 1 (a map at 0 follows a put that was never matched by a get); V10: a
	 * devmap pfn insert of a ZONE_DEVICE pfn in the new model, or a page insert of one in the old.
	 */
	if (new_model())
		suspicious = pfn_insert || fi->refcount < 1;
	else
		suspicious = !pfn_insert || (fi->folio && fi->refcount < 1);
	rec_send(ctx, r, suspicious);
	return 0;
}

/* New model: vmf_insert_page_mkwrite(vmf, page, write), vmf_insert_folio_pmd/pud(vmf, folio, write) */
static __always_inline int on_insert_page(void *ctx, u64 page, bool write, u32 ret, u8 via)
{
	struct finfo fi;

	if (!page || !read_folio_dev(head_of(page), &fi, true))
		return 0;
	return emit_map(ctx, &fi, page_to_pfn(page), via, write, ret, false, 0);
}

/* Old model: pfn inserts (devmap pfn_t up to 6.17). Other drivers use them too: filter by pfn. */
static __always_inline int on_insert_pfn(void *ctx, u64 pfn, bool write, u32 ret, u8 via)
{
	struct finfo fi = {};
	u64 page;

	pfn &= PFN_VALUE_MASK;
	page = pfn_to_page(pfn);
	if (pfn_in_ranges(pfn)) {
		if (page)
			read_folio(head_of(page), &fi);
	} else if (!page || !cfg.zone_mask || !read_folio_dev(head_of(page), &fi, true)) {
		/* not a known pgmap's pfn, and the zone bits do not say ZONE_DEVICE either */
		return 0;
	}
	return emit_map(ctx, &fi, pfn, via, write, ret, true,
			via == DAXMON_VIA_VMF_INSERT_PFN_PMD   ? PMD_ORDER
			: via == DAXMON_VIA_VMF_INSERT_PFN_PUD ? PUD_ORDER
							       : 0);
}

/* vm_fault_t and bool come back in the low bits of the registers */
#define INSERT_FEXIT(probe, fn, handler, obj_arg, write_expr, via)                                \
	SEC("fexit/" #fn)                                                                           \
	int probe##__fexit__##fn(u64 *ctx)                                                          \
	{                                                                                           \
		return handler(ctx, arg(ctx, obj_arg), (write_expr), (u32)ret_of(ctx), via);        \
	}

/* new model: vmf_insert_page_mkwrite(vmf, page, write), vmf_insert_folio_pmd/pud(vmf, folio, write) */
INSERT_FEXIT(folio_map_pte, vmf_insert_page_mkwrite, on_insert_page, 1, arg(ctx, 2) & 0xff,
	     DAXMON_VIA_VMF_INSERT_PAGE_MKWRITE)
INSERT_FEXIT(folio_map_pmd, vmf_insert_folio_pmd, on_insert_page, 1, arg(ctx, 2) & 0xff,
	     DAXMON_VIA_VMF_INSERT_FOLIO_PMD)
INSERT_FEXIT(folio_map_pud, vmf_insert_folio_pud, on_insert_page, 1, arg(ctx, 2) & 0xff,
	     DAXMON_VIA_VMF_INSERT_FOLIO_PUD)
/* old model: vmf_insert_mixed(_mkwrite)(vma, addr, pfn), vmf_insert_pfn_pmd/pud(vmf, pfn, write) */
INSERT_FEXIT(folio_map_pte, vmf_insert_mixed, on_insert_pfn, 2, 0, DAXMON_VIA_VMF_INSERT_MIXED)
INSERT_FEXIT(folio_map_pte, vmf_insert_mixed_mkwrite, on_insert_pfn, 2, 1,
	     DAXMON_VIA_VMF_INSERT_MIXED_MKWRITE)
INSERT_FEXIT(folio_map_pmd, vmf_insert_pfn_pmd, on_insert_pfn, 1, arg(ctx, 2) & 0xff,
	     DAXMON_VIA_VMF_INSERT_PFN_PMD)
/* 6.1: vmf_insert_pfn_pmd() is an inline wrapper of vmf_insert_pfn_pmd_prot(vmf, pfn, pgprot, write) */
INSERT_FEXIT(folio_map_pmd, vmf_insert_pfn_pmd_prot, on_insert_pfn, 1, arg(ctx, 3) & 0xff,
	     DAXMON_VIA_VMF_INSERT_PFN_PMD)
INSERT_FEXIT(folio_map_pud, vmf_insert_pfn_pud, on_insert_pfn, 1, arg(ctx, 2) & 0xff,
	     DAXMON_VIA_VMF_INSERT_PFN_PUD)
INSERT_FEXIT(folio_map_pud, vmf_insert_pfn_pud_prot, on_insert_pfn, 1, arg(ctx, 3) & 0xff,
	     DAXMON_VIA_VMF_INSERT_PFN_PUD)

/* kprobe/kretprobe fallbacks of the inserts: the kprobe keeps the arguments for the return */
#define INSERT_KPROBE(probe, fn, hook, obj_arg, write_expr)                                       \
	SEC("kprobe/" #fn)                                                                          \
	int BPF_KPROBE(probe##__kprobe__##fn)                                                       \
	{                                                                                           \
		stash_put(hook, PT_REGS_PARM##obj_arg(ctx), (write_expr), 0, 0);                    \
		return 0;                                                                           \
	}

INSERT_KPROBE(folio_map_pte, vmf_insert_page_mkwrite, H_PAGE_MKWRITE, 2, PT_REGS_PARM3(ctx))
INSERT_KPROBE(folio_map_pmd, vmf_insert_folio_pmd, H_FOLIO_PMD, 2, PT_REGS_PARM3(ctx))
INSERT_KPROBE(folio_map_pud, vmf_insert_folio_pud, H_FOLIO_PUD, 2, PT_REGS_PARM3(ctx))
INSERT_KPROBE(folio_map_pte, vmf_insert_mixed, H_MIXED, 3, 0)
INSERT_KPROBE(folio_map_pte, vmf_insert_mixed_mkwrite, H_MIXED_MKWRITE, 3, 1)
INSERT_KPROBE(folio_map_pmd, vmf_insert_pfn_pmd, H_PFN_PMD, 2, PT_REGS_PARM3(ctx))
INSERT_KPROBE(folio_map_pmd, vmf_insert_pfn_pmd_prot, H_PFN_PMD_PROT, 2, PT_REGS_PARM4(ctx))
INSERT_KPROBE(folio_map_pud, vmf_insert_pfn_pud, H_PFN_PUD, 2, PT_REGS_PARM3(ctx))
INSERT_KPROBE(folio_map_pud, vmf_insert_pfn_pud_prot, H_PFN_PUD_PROT, 2, PT_REGS_PARM4(ctx))

#define INSERT_KRETPROBE(probe, fn, hook, handler, via)                                           \
	SEC("kretprobe/" #fn)                                                                       \
	int BPF_KRETPROBE(probe##__kretprobe__##fn, long ret)                                       \
	{                                                                                           \
		struct stash s;                                                                     \
		if (!stash_take(hook, &s))                                                          \
			return 0;                                                                   \
		return handler(ctx, s.a[0], (s.a[1] & 0xff) != 0, (u32)ret, via);                            \
	}

INSERT_KRETPROBE(folio_map_pte, vmf_insert_page_mkwrite, H_PAGE_MKWRITE, on_insert_page,
		 DAXMON_VIA_VMF_INSERT_PAGE_MKWRITE)
INSERT_KRETPROBE(folio_map_pmd, vmf_insert_folio_pmd, H_FOLIO_PMD, on_insert_page,
		 DAXMON_VIA_VMF_INSERT_FOLIO_PMD)
INSERT_KRETPROBE(folio_map_pud, vmf_insert_folio_pud, H_FOLIO_PUD, on_insert_page,
		 DAXMON_VIA_VMF_INSERT_FOLIO_PUD)
INSERT_KRETPROBE(folio_map_pte, vmf_insert_mixed, H_MIXED, on_insert_pfn,
		 DAXMON_VIA_VMF_INSERT_MIXED)
INSERT_KRETPROBE(folio_map_pte, vmf_insert_mixed_mkwrite, H_MIXED_MKWRITE, on_insert_pfn,
		 DAXMON_VIA_VMF_INSERT_MIXED_MKWRITE)
INSERT_KRETPROBE(folio_map_pmd, vmf_insert_pfn_pmd, H_PFN_PMD, on_insert_pfn,
		 DAXMON_VIA_VMF_INSERT_PFN_PMD)
INSERT_KRETPROBE(folio_map_pmd, vmf_insert_pfn_pmd_prot, H_PFN_PMD_PROT, on_insert_pfn,
		 DAXMON_VIA_VMF_INSERT_PFN_PMD)
INSERT_KRETPROBE(folio_map_pud, vmf_insert_pfn_pud, H_PFN_PUD, on_insert_pfn,
		 DAXMON_VIA_VMF_INSERT_PFN_PUD)
INSERT_KRETPROBE(folio_map_pud, vmf_insert_pfn_pud_prot, H_PFN_PUD_PROT, on_insert_pfn,
		 DAXMON_VIA_VMF_INSERT_PFN_PUD)

/* ---- rmap removal (new model: FS DAX folios are rmapped like normal pages) ----------------------- */

static __always_inline int on_unmap(void *ctx, u64 folio, u64 page, u64 nr)
{
	struct daxmon_rec *r;
	struct finfo fi;

	/* hot path: every unmap of every page in the system comes through here */
	if (!folio || !read_folio_dev(folio, &fi, true))
		return 0;
	note_pgmap(fi.pgmap);
	r = rec_new(DAXMON_REC_FOLIO_UNMAP);
	if (!r)
		return 0;
	rec_folio(r, &fi);
	r->a = nr ? nr : (1ULL << fi.order);
	r->b = page_to_pfn(page);
	rec_send(ctx, r, false);
	return 0;
}

/* folio_remove_rmap_ptes(folio, page, nr_pages, vma) / _pmd(folio, page, vma): mm/rmap.c 6.8+ */
SEC("fentry/folio_remove_rmap_ptes")
int folio_unmap__fentry__folio_remove_rmap_ptes(u64 *ctx)
{
	return on_unmap(ctx, arg(ctx, 0), arg(ctx, 1), (u32)arg(ctx, 2));
}

SEC("fentry/folio_remove_rmap_pmd")
int folio_unmap__fentry__folio_remove_rmap_pmd(u64 *ctx)
{
	return on_unmap(ctx, arg(ctx, 0), arg(ctx, 1), 0);
}

SEC("kprobe/folio_remove_rmap_ptes")
int BPF_KPROBE(folio_unmap__kprobe__folio_remove_rmap_ptes, struct folio *folio, struct page *page,
	       int nr_pages)
{
	return on_unmap(ctx, (u64)folio, (u64)page, nr_pages);
}

SEC("kprobe/folio_remove_rmap_pmd")
int BPF_KPROBE(folio_unmap__kprobe__folio_remove_rmap_pmd, struct folio *folio, struct page *page)
{
	return on_unmap(ctx, (u64)folio, (u64)page, 0);
}

/* ---- GUP ---------------------------------------------------------------------------------------- */

/* The kernel's FOLL_* bits (values from the loader, cfg.foll_*) in the records' encoding. */
static __always_inline u64 foll_norm(u64 raw)
{
	u64 f = 0;

	if (raw & cfg.foll_write)
		f |= DAXMON_FOLL_WRITE;
	if (raw & cfg.foll_get)
		f |= DAXMON_FOLL_GET;
	if (raw & cfg.foll_longterm)
		f |= DAXMON_FOLL_LONGTERM;
	if (raw & cfg.foll_pci_p2pdma)
		f |= DAXMON_FOLL_PCI_P2PDMA;
	if (raw & cfg.foll_pin)
		f |= DAXMON_FOLL_PIN;
	return f;
}

static __always_inline int emit_gup(void *ctx, u64 folio, u64 refs, u64 flags, int ret, u8 op)
{
	struct daxmon_rec *r;
	struct finfo fi;

	if (!folio || !read_folio_dev(folio, &fi, true))
		return 0;
	note_pgmap(fi.pgmap);
	r = rec_new(DAXMON_REC_GUP);
	if (!r)
		return 0;
	rec_folio(r, &fi);
	r->sub = op;
	r->a = refs;
	r->b = foll_norm(flags);
	r->d = fi.pincount;
	r->ret = ret;
	rec_send(ctx, r, true);
	return 0;
}

static __always_inline u8 grab_op(u64 flags)
{
	return (flags & cfg.foll_pin) ? DAXMON_GUP_PIN : DAXMON_GUP_GET;
}

/*
 * 6.10+ (mm/gup.c "stop abusing try_grab_folio"): try_grab_folio(folio, refs, flags) → 0/-errno
 * for the slow path, try_grab_folio_fast(page, refs, flags) → folio or NULL for GUP-fast.
 * 6.1: try_grab_page(page, flags) → bool, and try_grab_folio(page, refs, flags) → folio or NULL.
 * "ret" for the pointer/bool forms: 0 on success, -1 when NULL/false came back (no errno).
 */
SEC("fexit/try_grab_folio")
int gup_grab__fexit__try_grab_folio(u64 *ctx)
{
	u32 flags = arg(ctx, 2);

	return emit_gup(ctx, arg(ctx, 0), (u32)arg(ctx, 1), flags, (int)ret_of(ctx), grab_op(flags));
}

SEC("fexit/try_grab_folio_fast")
int gup_grab__fexit__try_grab_folio_fast(u64 *ctx)
{
	u64 page = arg(ctx, 0);
	u32 flags = arg(ctx, 2);

	return emit_gup(ctx, page ? head_of(page) : 0, (u32)arg(ctx, 1), flags, ret_of(ctx) ? 0 : -1,
			grab_op(flags));
}

SEC("fexit/try_grab_page")
int gup_grab__fexit__try_grab_page(u64 *ctx)
{
	u64 page = arg(ctx, 0);
	u32 flags = arg(ctx, 1);

	return emit_gup(ctx, page ? head_of(page) : 0, 1, flags, (ret_of(ctx) & 0xff) ? 0 : -1,
			grab_op(flags));
}

SEC("fexit/try_grab_folio")
int gup_grab__fexit__try_grab_folio__page(u64 *ctx)
{
	u64 page = arg(ctx, 0);
	u32 flags = arg(ctx, 2);

	return emit_gup(ctx, page ? head_of(page) : 0, (u32)arg(ctx, 1), flags, ret_of(ctx) ? 0 : -1,
			grab_op(flags));
}

SEC("kprobe/try_grab_folio")
int BPF_KPROBE(gup_grab__kprobe__try_grab_folio, struct folio *folio, int refs,
	       unsigned int flags)
{
	stash_put(H_GRAB_FOLIO, (u64)folio, refs, flags, 0);
	return 0;
}

SEC("kretprobe/try_grab_folio")
int BPF_KRETPROBE(gup_grab__kretprobe__try_grab_folio, int ret)
{
	struct stash s;

	if (!stash_take(H_GRAB_FOLIO, &s))
		return 0;
	return emit_gup(ctx, s.a[0], s.a[1], s.a[2], ret, grab_op(s.a[2]));
}

SEC("kprobe/try_grab_folio_fast")
int BPF_KPROBE(gup_grab__kprobe__try_grab_folio_fast, struct page *page, int refs,
	       unsigned int flags)
{
	stash_put(H_GRAB_FOLIO_FAST, (u64)page, refs, flags, 0);
	return 0;
}

SEC("kretprobe/try_grab_folio_fast")
int BPF_KRETPROBE(gup_grab__kretprobe__try_grab_folio_fast, void *ret)
{
	struct stash s;

	if (!stash_take(H_GRAB_FOLIO_FAST, &s))
		return 0;
	return emit_gup(ctx, s.a[0] ? head_of(s.a[0]) : 0, s.a[1], s.a[2], ret ? 0 : -1,
			grab_op(s.a[2]));
}

SEC("kprobe/try_grab_page")
int BPF_KPROBE(gup_grab__kprobe__try_grab_page, struct page *page, unsigned int flags)
{
	stash_put(H_GRAB_PAGE, (u64)page, 1, flags, 0);
	return 0;
}

SEC("kretprobe/try_grab_page")
int BPF_KRETPROBE(gup_grab__kretprobe__try_grab_page, long ret)
{
	struct stash s;

	if (!stash_take(H_GRAB_PAGE, &s))
		return 0;
	return emit_gup(ctx, s.a[0] ? head_of(s.a[0]) : 0, 1, s.a[2], (ret & 0xff) ? 0 : -1,
			grab_op(s.a[2]));
}

SEC("kprobe/try_grab_folio")
int BPF_KPROBE(gup_grab__kprobe__try_grab_folio__page, struct page *page, int refs,
	       unsigned int flags)
{
	stash_put(H_GRAB_FOLIO_PAGE, (u64)page, refs, flags, 0);
	return 0;
}

SEC("kretprobe/try_grab_folio")
int BPF_KRETPROBE(gup_grab__kretprobe__try_grab_folio__page, void *ret)
{
	struct stash s;

	if (!stash_take(H_GRAB_FOLIO_PAGE, &s))
		return 0;
	return emit_gup(ctx, s.a[0] ? head_of(s.a[0]) : 0, s.a[1], s.a[2], ret ? 0 : -1,
			grab_op(s.a[2]));
}

/* gup_put_folio(folio, refs, flags): the release side of try_grab_folio (mm/gup.c, static) */
static __always_inline u8 put_op(u64 flags)
{
	return (flags & cfg.foll_pin) ? DAXMON_GUP_UNPIN : DAXMON_GUP_PUT;
}

SEC("fexit/gup_put_folio")
int gup_put__fexit__gup_put_folio(u64 *ctx)
{
	u32 flags = arg(ctx, 2);

	return emit_gup(ctx, arg(ctx, 0), (u32)arg(ctx, 1), flags, 0, put_op(flags));
}

SEC("kprobe/gup_put_folio")
int BPF_KPROBE(gup_put__kprobe__gup_put_folio, struct folio *folio, int refs, unsigned int flags)
{
	stash_put(H_GUP_PUT, (u64)folio, refs, flags, 0);
	return 0;
}

SEC("kretprobe/gup_put_folio")
int BPF_KRETPROBE(gup_put__kretprobe__gup_put_folio)
{
	struct stash s;

	if (!stash_take(H_GUP_PUT, &s))
		return 0;
	return emit_gup(ctx, s.a[0], s.a[1], s.a[2], 0, put_op(s.a[2]));
}

/*
 * check_vma_flags(vma, gup_flags): -EOPNOTSUPP for FOLL_LONGTERM on an FS DAX vma
 * (vma_is_fsdax(), mm/gup.c 6.1..7.x). The healthy refusal of V11.
 */
static __always_inline int on_check_vma(void *ctx, u64 gup_flags, int ret)
{
	struct daxmon_rec *r;

	if (ret != -EOPNOTSUPP || !(gup_flags & cfg.foll_longterm))
		return 0;
	r = rec_new(DAXMON_REC_GUP_LONGTERM_REFUSED);
	if (!r)
		return 0;
	r->b = foll_norm(gup_flags);
	r->ret = ret;
	rec_send(ctx, r, true);
	return 0;
}

SEC("fexit/check_vma_flags")
int gup_longterm_check__fexit__check_vma_flags(u64 *ctx)
{
	return on_check_vma(ctx, arg(ctx, 1), (int)ret_of(ctx));
}

SEC("kprobe/check_vma_flags")
int BPF_KPROBE(gup_longterm_check__kprobe__check_vma_flags, struct vm_area_struct *vma,
	       unsigned long gup_flags)
{
	if (gup_flags & cfg.foll_longterm)
		stash_put(H_CHECK_VMA, gup_flags, 0, 0, 0);
	return 0;
}

SEC("kretprobe/check_vma_flags")
int BPF_KRETPROBE(gup_longterm_check__kretprobe__check_vma_flags, int ret)
{
	struct stash s;

	if (!stash_take(H_CHECK_VMA, &s))
		return 0;
	return on_check_vma(ctx, s.a[0], ret);
}

/* ---- old model: the FS DAX put ------------------------------------------------------------------ */

/*
 * __put_devmap_managed_folio_refs(folio, refs) (6.12) / __put_devmap_managed_page_refs(page, refs)
 * (6.1): every put of a devmap-managed page; FS DAX is idle again when it drops to 1
 * (mm/memremap.c). Read before the put, as the kernel sees it.
 */
static __always_inline int on_devmap_put(void *ctx, u64 page, u64 refs)
{
	struct daxmon_rec *r;
	struct finfo fi;
	u64 folio;

	if (!page)
		return 0;
	folio = head_of(page);
	if (!read_folio_dev(folio, &fi, true))
		return 0;
	note_pgmap(fi.pgmap);
	r = rec_new(DAXMON_REC_FOLIO_PUT);
	if (!r)
		return 0;
	rec_folio(r, &fi);
	r->a = refs;
	/* V2 (old): "fsdax page refcounts are 1-based" */
	rec_send(ctx, r, (s64)fi.refcount - (s64)refs < 1);
	return 0;
}

SEC("fentry/__put_devmap_managed_folio_refs")
int devmap_put__fentry____put_devmap_managed_folio_refs(u64 *ctx)
{
	return on_devmap_put(ctx, arg(ctx, 0), (u32)arg(ctx, 1));
}

SEC("fentry/__put_devmap_managed_page_refs")
int devmap_put__fentry____put_devmap_managed_page_refs(u64 *ctx)
{
	return on_devmap_put(ctx, arg(ctx, 0), (u32)arg(ctx, 1));
}

SEC("kprobe/__put_devmap_managed_folio_refs")
int BPF_KPROBE(devmap_put__kprobe____put_devmap_managed_folio_refs, struct folio *folio, int refs)
{
	return on_devmap_put(ctx, (u64)folio, refs);
}

SEC("kprobe/__put_devmap_managed_page_refs")
int BPF_KPROBE(devmap_put__kprobe____put_devmap_managed_page_refs, struct page *page, int refs)
{
	return on_devmap_put(ctx, (u64)page, refs);
}

/* ---- idle wake-ups ------------------------------------------------------------------------------ */

/*
 * wake_up_var(var) is the kernel's "this page is idle" signal: old model
 * wake_up_var(&page->_refcount) when the refcount drops to 1, new model wake_up_var(&folio->page)
 * from free_zone_device_folio() (docs/kernel-model.md §2). Called all over the kernel: only addresses
 * inside the memmap of a known pgmap go further.
 */
static __always_inline int on_wake_up_var(void *ctx, u64 var)
{
	struct daxmon_rec *r;
	struct finfo fi;
	u64 v = vmemmap(), sz, off, pfn, within, page;

	if (!v || var < v)
		return 0;
	off = var - v;
	if (off >> 46)
		return 0;
	sz = page_size_bytes();
	pfn = off / sz;
	within = off - pfn * sz;
	if (within != 0 && within != bpf_core_field_offset(struct folio, _refcount))
		return 0;
	if (!pfn_in_ranges(pfn))
		return 0;
	page = v + pfn * sz;
	read_folio(page, &fi);
	r = rec_new(DAXMON_REC_FOLIO_IDLE);
	if (!r)
		return 0;
	rec_folio(r, &fi);
	r->pfn = pfn;
	rec_send(ctx, r, false);
	return 0;
}

SEC("fentry/wake_up_var")
int folio_idle__fentry__wake_up_var(u64 *ctx)
{
	return on_wake_up_var(ctx, arg(ctx, 0));
}

SEC("kprobe/wake_up_var")
int BPF_KPROBE(folio_idle__kprobe__wake_up_var, void *var)
{
	return on_wake_up_var(ctx, (u64)var);
}

/* ---- ZONE_DEVICE free --------------------------------------------------------------------------- */

/*
 * free_zone_device_folio(folio) (6.2+) / free_zone_device_page(page) (6.1): the refcount reached
 * 0. New model: every FS DAX unmap ends here (mm/memremap.c). Old model: never legitimately for
 * FS DAX or device-dax (no ->page_free; it WARNs).
 */
static __always_inline int on_free(void *ctx, u64 folio)
{
	struct dev_pagemap *pm;
	struct daxmon_rec *r;
	struct finfo fi;
	bool suspicious;
	u32 type;

	if (!folio || !read_folio_dev(folio, &fi, true))
		return 0;
	note_pgmap(fi.pgmap);
	r = rec_new(DAXMON_REC_ZONE_DEVICE_FREE);
	if (!r)
		return 0;
	rec_folio(r, &fi);
	pm = (struct dev_pagemap *)fi.pgmap;
	type = pm ? BPF_CORE_READ(pm, type) : 0;
	suspicious = fi.mapcount != 0 || fi.refcount != 0 ||
		     (!new_model() && (type == MEMORY_DEVICE_FS_DAX || type == MEMORY_DEVICE_GENERIC));
	rec_send(ctx, r, suspicious);
	return 0;
}

SEC("fentry/free_zone_device_folio")
int zone_device_free__fentry__free_zone_device_folio(u64 *ctx)
{
	return on_free(ctx, arg(ctx, 0));
}

SEC("fentry/free_zone_device_page")
int zone_device_free__fentry__free_zone_device_page(u64 *ctx)
{
	return on_free(ctx, arg(ctx, 0));
}

SEC("kprobe/free_zone_device_folio")
int BPF_KPROBE(zone_device_free__kprobe__free_zone_device_folio, struct folio *folio)
{
	return on_free(ctx, (u64)folio);
}

SEC("kprobe/free_zone_device_page")
int BPF_KPROBE(zone_device_free__kprobe__free_zone_device_page, struct page *page)
{
	return on_free(ctx, (u64)page);
}

/* ---- busy pages and layout breaks -------------------------------------------------------------- */

/* dax_layout_busy_page_range(mapping, start, end) → the first busy page, or NULL (fs/dax.c) */
static __always_inline int on_busy(void *ctx, u64 mapping, u64 page)
{
	struct daxmon_rec *r;
	struct finfo fi = {};
	u64 dev, ino;

	if (!page)
		return 0;
	read_folio(head_of(page), &fi);
	r = rec_new(DAXMON_REC_BUSY_PAGE_FOUND);
	if (!r)
		return 0;
	rec_folio(r, &fi);
	inode_ids(mapping_inode(mapping), &dev, &ino);
	r->a = dev;
	r->b = ino;
	rec_send(ctx, r, true);
	return 0;
}

SEC("fexit/dax_layout_busy_page_range")
int busy_page__fexit__dax_layout_busy_page_range(u64 *ctx)
{
	return on_busy(ctx, arg(ctx, 0), ret_of(ctx));
}

SEC("kprobe/dax_layout_busy_page_range")
int BPF_KPROBE(busy_page__kprobe__dax_layout_busy_page_range, struct address_space *mapping)
{
	stash_put(H_BUSY, (u64)mapping, 0, 0, 0);
	return 0;
}

SEC("kretprobe/dax_layout_busy_page_range")
int BPF_KRETPROBE(busy_page__kretprobe__dax_layout_busy_page_range, void *ret)
{
	struct stash s;

	if (!stash_take(H_BUSY, &s))
		return 0;
	return on_busy(ctx, s.a[0], (u64)ret);
}

/*
 * Spans of the functions that wait for busy DAX pages: old xfs_break_dax_layouts(inode[, retry])
 * and ext4_break_layouts(inode); new dax_break_layout(inode, start, end, cb) and
 * dax_break_layout_final(inode), which sleeps TASK_UNINTERRUPTIBLE (fs/dax.c 6.15+).
 */
static __always_inline int on_break_begin(void *ctx, u64 inode, u8 fn)
{
	struct daxmon_rec *r;
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u64 zero = 0, dev, ino;

	bpf_map_update_elem(&sleeps, &tid, &zero, BPF_ANY);
	r = rec_new(DAXMON_REC_LAYOUT_BREAK_BEGIN);
	if (!r)
		return 0;
	inode_ids(inode, &dev, &ino);
	r->a = dev;
	r->b = ino;
	r->sub = fn;
	if (fn == DAXMON_FN_DAX_BREAK_LAYOUT_FINAL)
		r->flags |= DAXMON_F_UNINTERRUPTIBLE;
	rec_send(ctx, r, true);
	return 0;
}

/* The sleep probes that must be live for fn's count to be complete (see sleep_probes). */
static __always_inline bool sleeps_complete(u8 fn)
{
	u32 have = sleep_probes;

	switch (fn) {
	case DAXMON_FN_XFS_BREAK_DAX_LAYOUTS:
		return have & (1U << DAXMON_FN_XFS_BREAK_DAX_LAYOUTS);
	case DAXMON_FN_EXT4_BREAK_LAYOUTS:
		return have & (1U << DAXMON_FN_EXT4_BREAK_LAYOUTS);
	case DAXMON_FN_DAX_BREAK_LAYOUT:
		/* the callback is the filesystem's *_wait_dax_page: either may be called */
		return (have & 3) == 3;
	default:
		/* dax_break_layout_final waits without a callback: nothing to count */
		return false;
	}
}

static __always_inline int on_break_end(void *ctx, u64 inode, u8 fn, int ret)
{
	struct daxmon_rec *r;
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u64 *n = bpf_map_lookup_elem(&sleeps, &tid);
	u64 slept = n ? *n : 0, dev, ino;

	bpf_map_delete_elem(&sleeps, &tid);
	r = rec_new(DAXMON_REC_LAYOUT_BREAK_END);
	if (!r)
		return 0;
	inode_ids(inode, &dev, &ino);
	r->a = dev;
	r->b = ino;
	r->sub = fn;
	r->d = sleeps_complete(fn) ? slept : ~0ULL;
	r->ret = ret;
	rec_send(ctx, r, false);
	return 0;
}

#define BREAK_PROGS(fn, id)                                                                        \
	SEC("fentry/" #fn)                                                                          \
	int layout_break__fentry__##fn(u64 *ctx)                                                    \
	{                                                                                           \
		return on_break_begin(ctx, arg(ctx, 0), id);                                        \
	}                                                                                           \
	SEC("fexit/" #fn)                                                                           \
	int layout_break__fexit__##fn(u64 *ctx)                                                     \
	{                                                                                           \
		return on_break_end(ctx, arg(ctx, 0), id, (int)ret_of(ctx));                        \
	}                                                                                           \
	SEC("kprobe/" #fn)                                                                          \
	int BPF_KPROBE(layout_break__kprobe__##fn, struct inode *inode)                             \
	{                                                                                           \
		stash_put(H_BREAK, (u64)inode, 0, 0, 0);                                            \
		return on_break_begin(ctx, (u64)inode, id);                                         \
	}                                                                                           \
	SEC("kretprobe/" #fn)                                                                       \
	int BPF_KRETPROBE(layout_break__kretprobe__##fn, long ret)                                  \
	{                                                                                           \
		struct stash s;                                                                     \
		if (!stash_take(H_BREAK, &s))                                                       \
			return 0;                                                                   \
		return on_break_end(ctx, s.a[0], id, (int)ret);                                     \
	}

BREAK_PROGS(xfs_break_dax_layouts, DAXMON_FN_XFS_BREAK_DAX_LAYOUTS)
BREAK_PROGS(ext4_break_layouts, DAXMON_FN_EXT4_BREAK_LAYOUTS)
BREAK_PROGS(dax_break_layout, DAXMON_FN_DAX_BREAK_LAYOUT)
BREAK_PROGS(dax_break_layout_final, DAXMON_FN_DAX_BREAK_LAYOUT_FINAL)

/*
 * xfs_wait_dax_page(inode) / ext4_wait_dax_page(inode): one call per sleep on a busy page, the
 * callback of the wait (static; out of line in Debian's 7.3 xfs.ko/ext4.ko, inlined in 6.1/6.12).
 */
static __always_inline int on_wait_dax_page(void)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u64 *n = bpf_map_lookup_elem(&sleeps, &tid);

	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

SEC("fentry/xfs_wait_dax_page")
int layout_break_sleep__fentry__xfs_wait_dax_page(u64 *ctx)
{
	return on_wait_dax_page();
}

SEC("fentry/ext4_wait_dax_page")
int layout_break_sleep__fentry__ext4_wait_dax_page(u64 *ctx)
{
	return on_wait_dax_page();
}

SEC("kprobe/xfs_wait_dax_page")
int BPF_KPROBE(layout_break_sleep__kprobe__xfs_wait_dax_page)
{
	return on_wait_dax_page();
}

SEC("kprobe/ext4_wait_dax_page")
int BPF_KPROBE(layout_break_sleep__kprobe__ext4_wait_dax_page)
{
	return on_wait_dax_page();
}
