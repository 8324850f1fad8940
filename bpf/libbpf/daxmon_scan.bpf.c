// SPDX-License-Identifier: GPL-2.0
/*
 * daxmon's struct-page scanner: reads the kernel's own view of a pfn range (refcount, mapcount,
 * flags, the compound/pgmap word, mapping) so daxmon can reconcile what its event stream told it
 * with the truth (docs/scan.md).
 *
 * A raw_tp program that is never attached: daxmon-scan runs it on demand with
 * BPF_PROG_TEST_RUN, once per batch. Under SPARSEMEM_VMEMMAP the struct pages form one array at
 * vmemmap_base (arch/x86 pfn_to_page), so page N is a plain kernel read; bpf_loop keeps the
 * verifier's work constant whatever the batch size. pmem pfns are never "online"
 * (pfn_to_online_page() is NULL for ZONE_DEVICE), so /proc/kpagecount cannot do this from user
 * space (docs/kernel-model.md §7).
 */
#include "daxmon_kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "../include/daxmon_scan.h"

char LICENSE[] SEC("license") = "GPL";

/* Written by daxmon-scan before load. */
const volatile __u64 vmemmap_base_addr = 0; /* address of the variable, from /proc/kallsyms */
const volatile __u64 vmemmap_base_value = 0; /* or its value, given directly (--vmemmap-base) */

/* Per batch, set by daxmon-scan before each test run. */
__u64 batch_start_pfn = 0;
__u32 batch_nr = 0;
/* Results of the last run. */
__u32 batch_done = 0;
__u32 batch_faults = 0;
__u64 vmemmap_seen = 0;

struct daxmon_scan_page out[DAXMON_SCAN_BATCH] = {};

#define SNAP 128 /* head page + first tail (2 x 64-byte struct page): every folio field used (6.1..7.x) */

static __always_inline u64 vmemmap(void)
{
	u64 v = vmemmap_base_value;

	if (!v && vmemmap_base_addr)
		bpf_probe_read_kernel(&v, sizeof(v), (const void *)vmemmap_base_addr);
	return v;
}

#define AT(b, type, off) ((off) <= SNAP - sizeof(type) ? *(type *)&(b)[(off)] : 0)

struct loop_ctx {
	u64 base;
	u64 page_size;
};

static long scan_one(u32 i, struct loop_ctx *c)
{
	u8 b[SNAP];
	struct daxmon_scan_page *p;
	u64 flags, page;
	s32 mc;

	if (i >= DAXMON_SCAN_BATCH)
		return 1;
	p = &out[i];
	page = c->base + (batch_start_pfn + i) * c->page_size;
	__builtin_memset(p, 0, sizeof(*p));
	/*
	 * The page itself first: the next struct page may lie in an unpopulated vmemmap section (the
	 * last page of a pgmap), and only a head is sure to have a first tail after it.
	 */
	if (bpf_probe_read_kernel(b, SNAP / 2, (const void *)page)) {
		p->status = DAXMON_SCAN_FAULT;
		batch_faults++;
		return 0;
	}
	flags = *(u64 *)&b[0];
	if (flags & (1ULL << bpf_core_enum_value(enum pageflags, PG_head)))
		bpf_probe_read_kernel(&b[SNAP / 2], SNAP / 2, (const void *)(page + SNAP / 2));
	else
		__builtin_memset(&b[SNAP / 2], 0, SNAP / 2);
	p->flags = flags;
	p->info = *(u64 *)&b[8];
	p->mapping = AT(b, u64, bpf_core_field_offset(struct folio, mapping));
	p->refcount = AT(b, s32, bpf_core_field_offset(struct folio, _refcount));
	mc = AT(b, s32, bpf_core_field_offset(struct folio, _mapcount));
	if (flags & (1ULL << bpf_core_enum_value(enum pageflags, PG_head))) {
		p->status |= DAXMON_SCAN_HEAD;
		if (bpf_core_field_exists(((struct folio___61 *)0)->_folio_order)) {
			p->order = AT(b, u8, bpf_core_field_offset(struct folio___61, _folio_order));
			mc = AT(b, s32, bpf_core_field_offset(struct folio___61, _total_mapcount));
		} else {
			p->order = AT(b, u64, bpf_core_field_offset(struct folio, _flags_1)) & 0xff;
			if (bpf_core_field_exists(((struct folio___large_mapcount *)0)->_large_mapcount))
				mc = AT(b, s32,
					bpf_core_field_offset(struct folio___large_mapcount, _large_mapcount));
		}
		p->pincount = AT(b, s32, bpf_core_field_offset(struct folio, _pincount));
	}
	if (p->info & 1)
		p->status |= DAXMON_SCAN_TAIL;
	p->mapcount = mc + 1;
	return 0;
}

SEC("raw_tp")
int scan_pages(void *ctx)
{
	struct loop_ctx c = { .base = vmemmap(), .page_size = bpf_core_type_size(struct page) };
	u32 nr = batch_nr;

	vmemmap_seen = c.base;
	batch_done = 0;
	batch_faults = 0;
	if (!c.base || !c.page_size)
		return 0;
	if (nr > DAXMON_SCAN_BATCH)
		nr = DAXMON_SCAN_BATCH;
	bpf_loop(nr, scan_one, &c, 0);
	batch_done = nr;
	return 0;
}
