/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared between daxmon.bpf.c and loader.c: the configuration the loader writes into the
 * object's .rodata.cfg before load, the pgmap range table in .data.ranges, and the counters the
 * loader polls. Plain fixed-width types only: both sides must agree on the layout byte for byte.
 */
#ifndef DAXMON_CFG_H
#define DAXMON_CFG_H

/* Ranges the in-kernel filter knows about: registered, discovered, or given with --pgmap-range. */
#define DAXMON_MAX_RANGES 32

/* Stack collection policy (--stacks). */
#define DAXMON_STACKS_NONE 0
#define DAXMON_STACKS_DEFAULT 1 /* rare records, and records that look like a violation */
#define DAXMON_STACKS_ALL 2

/* Indexes into the per-CPU "counters" array map. */
enum daxmon_counter {
	DAXMON_CNT_LOST = 0,	     /* ring buffer reservation failed: a record was dropped */
	DAXMON_CNT_BAD_ARGS = 1,     /* a kprobe on a compiler clone saw arguments that made no sense */
	DAXMON_CNT_ZONE_MISMATCH = 2, /* a page of a registered pgmap did not carry ZONE_DEVICE */
	DAXMON_CNT_NO_STACK = 3,     /* bpf_get_stackid failed (map full or collision) */
	DAXMON_CNT_RANGES_FULL = 4,  /* a pgmap range did not fit in the range table */
	DAXMON_CNT_NR = 8,
};

struct daxmon_cfg {
	/* Address of the kernel variable vmemmap_base (from /proc/kallsyms), 0 if unknown. */
	__u64 vmemmap_base_addr;
	/* Wake the reader when more than this many bytes are pending in the ring buffer. */
	__u64 wakeup_bytes;
	/* page->flags layout (include/linux/page-flags-layout.h), computed by the loader from BTF. */
	__u32 zone_shift;
	__u32 zone_mask;
	__u32 zone_device;
	__u32 stacks; /* DAXMON_STACKS_* */
	/*
	 * This kernel's FOLL_* values: an anonymous enum in include/linux/mm_types.h from 6.3 (found
	 * in BTF), #defines with other values before (6.1: GET 0x4, LONGTERM 0x10000, PIN 0x40000).
	 * Records carry the flags in the 6.3+ encoding.
	 */
	__u32 foll_write;
	__u32 foll_get;
	__u32 foll_longterm;
	__u32 foll_pci_p2pdma;
	__u32 foll_pin;
	__u32 pad;
};

/* The FOLL_* encoding of the records (mm/internal.h 6.3+, = src/events/types.ts FOLL) */
#define DAXMON_FOLL_WRITE (1U << 0)
#define DAXMON_FOLL_GET (1U << 1)
#define DAXMON_FOLL_LONGTERM (1U << 8)
#define DAXMON_FOLL_PCI_P2PDMA (1U << 10)
#define DAXMON_FOLL_PIN (1U << 19)

/*
 * One pfn range of a pgmap. A slot is live when end_pfn != 0. pgmap is the kernel address of
 * the struct dev_pagemap, or 1 for a range the loader was given without one.
 */
struct daxmon_range {
	__u64 start_pfn;
	__u64 end_pfn; /* exclusive */
	__u64 pgmap;
	__u64 pad;
};

#define DAXMON_PGMAP_UNKNOWN 1ULL

#endif
