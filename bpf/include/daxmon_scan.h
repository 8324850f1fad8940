/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The struct-page scanner's wire contract (bpf/libbpf/daxmon_scan.bpf.c, daxmon-scan, and the
 * Node decoder src/scan/frames.ts). Frames use struct daxmon_frame_hdr of daxmon_record.h:
 *   kind DAXMON_FRAME_JSON (2):       hello, done, error objects
 *   kind DAXMON_FRAME_SCAN_PAGES (3): struct daxmon_scan_batch then n struct daxmon_scan_page
 * Little-endian, x86-64 only. See docs/scan.md.
 */
#ifndef DAXMON_SCAN_H
#define DAXMON_SCAN_H

#define DAXMON_FRAME_SCAN_PAGES 3
#define DAXMON_SCAN_BATCH 4096
#define DAXMON_SCAN_PAGE_SIZE 48

/* status bits */
#define DAXMON_SCAN_FAULT (1 << 0) /* the struct page could not be read (no memmap there) */
#define DAXMON_SCAN_HEAD (1 << 1)  /* PG_head: order, mapcount and pincount are the folio's */
#define DAXMON_SCAN_TAIL (1 << 2)  /* bit 0 of the word at offset 8: a compound tail */

struct daxmon_scan_page {
	__u64 flags;	/*  0 page->flags, raw (zone in the top bits) */
	__u64 info;	/*  8 word 1: pgmap pointer (head/order-0) or compound head/mask + 1 (tail) */
	__u64 mapping;	/* 16 folio->mapping: set while a DAX entry owns the page (0x1 = 6.12 shared) */
	__s32 refcount; /* 24 _refcount */
	__s32 mapcount; /* 28 logical: raw _mapcount + 1; heads: _large_mapcount + 1 (6.1 _total_) */
	__s32 pincount; /* 32 heads: _pincount */
	__u8 order;	/* 36 heads: folio order */
	__u8 status;	/* 37 DAXMON_SCAN_* */
	__u16 pad0;
	__u64 pad1;	/* 40 */
};

struct daxmon_scan_batch {
	__u64 start_pfn;
	__u32 nr;
	__u32 faults;
};

#endif
