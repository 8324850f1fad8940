/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The wire contract between daxmon's BPF programs, its libbpf loader and the Node decoder
 * (src/probes/libbpf/records.ts). Change both sides together and bump DAXMON_WIRE_VERSION.
 *
 * The loader writes *frames* to stdout:
 *   struct daxmon_frame_hdr { u32 len; u16 kind; u16 version; } followed by len payload bytes.
 *   kind DAXMON_FRAME_RECORDS: payload is len/96 struct daxmon_rec, in ring-buffer order.
 *   kind DAXMON_FRAME_JSON:    payload is one UTF-8 JSON object (loader meta: hello, attach,
 *                              ready, lost, stack, error). See docs/backend-protocol.md.
 * Everything is little-endian (x86-64 only, like ZONE_DEVICE pmem hosts).
 */
#ifndef DAXMON_RECORD_H
#define DAXMON_RECORD_H

#define DAXMON_WIRE_VERSION 1
#define DAXMON_REC_SIZE 96

#define DAXMON_FRAME_RECORDS 1
#define DAXMON_FRAME_JSON 2

enum daxmon_rec_type {
	DAXMON_REC_PGMAP_REGISTERED = 1, /* one record per range: key=pgmap pfn=range start
					    a=nr_pages b=range index (~0ULL unknown) d=nr_range
					    sub=memory_type order=vmemmap_shift
					    flags: F_HAS_PAGE_FREE, F_ALTMAP, F_DISCOVERED */
	DAXMON_REC_PGMAP_TEARDOWN_BEGIN = 2, /* key=pgmap pfn=first range start a=its nr_pages (binds
						pgmaps discovered before start-up) */
	DAXMON_REC_PGMAP_REF_RELEASED = 3,   /* key=pgmap */
	DAXMON_REC_PGMAP_TEARDOWN_DONE = 4,  /* key=pgmap */
	DAXMON_REC_DAX_FAULT = 5,	     /* a=dev b=ino d=pgoff ret=vm_fault_t flags: F_PMD, F_WRITE */
	DAXMON_REC_DAX_ENTRY_INSERT = 6,     /* pfn order a=dev b=ino d=index flags: F_ZERO F_EMPTY F_SHARED */
	DAXMON_REC_DAX_ENTRY_REMOVE = 7,     /* pfn order a=dev b=ino d=index (~0ULL unknown) refcount
						mapcount flags: F_TRUNC, F_TRUNC_UNKNOWN */
	DAXMON_REC_FOLIO_MAP = 8,	     /* pfn (the folio's) order sub=via ret=vm_fault_t refcount
						mapcount b=pfn of the inserted page flags: F_WRITE */
	DAXMON_REC_FOLIO_UNMAP = 9,	     /* pfn (the folio's) order a=nr b=pfn of the first page
						refcount mapcount (read before removal) */
	DAXMON_REC_GUP = 10,		     /* pfn order sub=op a=refs b=FOLL flags d=pincount ret refcount */
	DAXMON_REC_GUP_LONGTERM_REFUSED = 11, /* b=FOLL flags ret */
	DAXMON_REC_FOLIO_PUT = 12,	     /* old model: pfn order a=refs refcount (before the put) */
	DAXMON_REC_FOLIO_IDLE = 13,	     /* pfn order refcount */
	DAXMON_REC_ZONE_DEVICE_FREE = 14,    /* pfn order refcount mapcount flags: F_PAGE_FREE_KNOWN F_PAGE_FREE_CALLED */
	DAXMON_REC_BUSY_PAGE_FOUND = 15,     /* pfn order a=dev b=ino refcount mapcount */
	DAXMON_REC_LAYOUT_BREAK_BEGIN = 16,  /* tid a=dev b=ino sub=fn flags: F_UNINTERRUPTIBLE */
	DAXMON_REC_LAYOUT_BREAK_END = 17,    /* tid a=dev b=ino sub=fn d=sleeps (~0ULL unknown) ret */
	DAXMON_REC_REFCOUNT_SAMPLE = 18,     /* pfn order refcount mapcount a=page flags word b=head pfn
						(tails; ~0ULL otherwise) d=pincount flags: F_TAIL,
						F_PGMAP_CHECKED, F_PGMAP_OK */
};

/* flags bits, meaning per record type as listed above */
#define DAXMON_F_HAS_PAGE_FREE (1 << 0)
#define DAXMON_F_ALTMAP (1 << 1)
#define DAXMON_F_DISCOVERED (1 << 2) /* PGMAP_REGISTERED: read off a folio, not at registration */
#define DAXMON_F_PMD (1 << 0)
#define DAXMON_F_WRITE (1 << 1)
#define DAXMON_F_ZERO (1 << 0)
#define DAXMON_F_EMPTY (1 << 1)
#define DAXMON_F_SHARED (1 << 2)
#define DAXMON_F_TRUNC (1 << 0)
#define DAXMON_F_TRUNC_UNKNOWN (1 << 1) /* DAX_ENTRY_REMOVE: the hook cannot see `trunc` */
#define DAXMON_F_PAGE_FREE_KNOWN (1 << 0)
#define DAXMON_F_PAGE_FREE_CALLED (1 << 1)
#define DAXMON_F_UNINTERRUPTIBLE (1 << 0)
#define DAXMON_F_TAIL (1 << 0)
#define DAXMON_F_PGMAP_CHECKED (1 << 1)
#define DAXMON_F_PGMAP_OK (1 << 2)

/* sub for FOLIO_MAP: the insert function (order matches MAP_VIAS in src/events/types.ts) */
enum daxmon_via {
	DAXMON_VIA_VMF_INSERT_PAGE_MKWRITE = 0,
	DAXMON_VIA_VMF_INSERT_FOLIO_PMD = 1,
	DAXMON_VIA_VMF_INSERT_FOLIO_PUD = 2,
	DAXMON_VIA_VMF_INSERT_MIXED = 3,
	DAXMON_VIA_VMF_INSERT_MIXED_MKWRITE = 4,
	DAXMON_VIA_VMF_INSERT_PFN_PMD = 5,
	DAXMON_VIA_VMF_INSERT_PFN_PUD = 6,
};

/* sub for GUP (order matches GUP_OPS) */
enum daxmon_gup_op { DAXMON_GUP_GET = 0, DAXMON_GUP_PIN = 1, DAXMON_GUP_PUT = 2, DAXMON_GUP_UNPIN = 3 };

/* sub for LAYOUT_BREAK_*: the waiting function (order matches LAYOUT_BREAK_FNS) */
enum daxmon_break_fn {
	DAXMON_FN_XFS_BREAK_DAX_LAYOUTS = 0,
	DAXMON_FN_EXT4_BREAK_LAYOUTS = 1,
	DAXMON_FN_DAX_BREAK_LAYOUT = 2,
	DAXMON_FN_DAX_BREAK_LAYOUT_FINAL = 3,
};

struct daxmon_rec {
	__u64 t;	     /*  0 bpf_ktime_get_ns() */
	__u16 type;	     /*  8 enum daxmon_rec_type */
	__u16 flags;	     /* 10 DAXMON_F_* */
	__u32 pid;	     /* 12 tgid */
	__u32 tid;	     /* 16 */
	__s32 stack_id;	     /* 20 kernel stack id in the loader's stack map, -1 if none */
	char comm[16];	     /* 24 */
	__u64 pfn;	     /* 40 */
	__u64 key;	     /* 48 pgmap address, for pgmap records */
	__s32 refcount;	     /* 56 folio->_refcount */
	__s32 mapcount;	     /* 60 logical mapcount: raw _mapcount + 1 (large folios: total) */
	__u64 a;	     /* 64 */
	__u64 b;	     /* 72 */
	__u64 d;	     /* 80 */
	__s32 ret;	     /* 88 */
	__u8 order;	     /* 92 */
	__u8 sub;	     /* 93 */
	__u16 pad;	     /* 94 */
};

struct daxmon_frame_hdr {
	__u32 len;
	__u16 kind;
	__u16 version;
};

#endif
