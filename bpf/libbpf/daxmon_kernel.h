/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few kernel types daxmon's BPF programs touch, declared by hand instead of a generated
 * vmlinux.h. Every struct is preserve_access_index: libbpf relocates each field access against
 * the running kernel's BTF (CO-RE), so the offsets written here do not matter, only the names.
 * A generated header would tie the build to the build host's kernel (and need its BTF); this one
 * builds anywhere and says exactly what the programs depend on.
 *
 * Types that changed between 6.1, 6.12 and 7.x come in ___flavour variants (libbpf ignores the
 * ___suffix when matching names) and are chosen with bpf_core_field_exists() at load time:
 *   - struct folio: 6.1 keeps the order in _folio_order and the mapcount in _total_mapcount;
 *     6.12+ keep the order in the low byte of _flags_1 and have _large_mapcount (mm_types.h).
 *   - the pgmap pointer: page->pgmap up to 6.14, folio->pgmap from 6.15 (docs/kernel-model.md §4.3).
 *   - the word at offset 8 of a tail page: compound_head up to 6.x, compound_info in 7.x.
 * Version-dependent scalars whose size may change (inode->i_ino became u64 in 7.x) are read
 * with BPF_CORE_READ_BITFIELD_PROBED, which takes the size from the target BTF.
 */
#ifndef DAXMON_KERNEL_H
#define DAXMON_KERNEL_H

/* Tells bpf_tracing.h to use the kernel's pt_regs field names (di, si, ...), as for vmlinux.h. */
#define __VMLINUX_H__

#include <linux/types.h>
#include <linux/bpf.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;
typedef _Bool bool;
#define true 1
#define false 0

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

typedef struct {
	int counter;
} atomic_t;

/* x86-64 struct pt_regs (arch/x86/include/asm/ptrace.h): kprobe context, read by PT_REGS_*. */
struct pt_regs {
	unsigned long r15;
	unsigned long r14;
	unsigned long r13;
	unsigned long r12;
	unsigned long bp;
	unsigned long bx;
	unsigned long r11;
	unsigned long r10;
	unsigned long r9;
	unsigned long r8;
	unsigned long ax;
	unsigned long cx;
	unsigned long dx;
	unsigned long si;
	unsigned long di;
	unsigned long orig_ax;
	unsigned long ip;
	unsigned long cs;
	unsigned long flags;
	unsigned long sp;
	unsigned long ss;
};

struct address_space;
struct dev_pagemap;

/* Only used through struct folio (the head page); see the flavours below. */
struct page {
	unsigned long flags;
};

struct folio {
	struct address_space *mapping;
	unsigned long index;
	atomic_t _mapcount;
	atomic_t _refcount;
	unsigned long _flags_1;
	atomic_t _pincount;
};

/* 6.12 and later: large folios keep a separate mapcount (mm_types.h). */
struct folio___large_mapcount {
	atomic_t _large_mapcount;
};

/* 6.1: order and mapcount of large folios in dedicated fields (mm_types.h, v6.1). */
struct folio___61 {
	unsigned char _folio_order;
	atomic_t _total_mapcount;
};

/* 6.15+: the pgmap pointer moved from struct page to struct folio ([V9] "fs/dax: ..."). */
struct folio___new {
	struct dev_pagemap *pgmap;
};

/* 7.x: folio->share is a union member of index (FS DAX shared extents). */
struct folio___share {
	unsigned long share;
};

/* Up to 6.14: page->pgmap in the ZONE_DEVICE arm of struct page's union. */
struct page___old {
	struct dev_pagemap *pgmap;
};

struct range {
	u64 start;
	u64 end;
};

struct dev_pagemap_ops {
	void (*page_free)(struct page *page);
};

/* 7.x: ->page_free(page) became ->folio_free(folio) */
struct dev_pagemap_ops___folio {
	void (*folio_free)(struct folio *folio);
};

struct percpu_ref {
	unsigned long percpu_count_ptr;
};

enum memory_type {
	MEMORY_DEVICE_PRIVATE = 1,
	MEMORY_DEVICE_COHERENT = 2,
	MEMORY_DEVICE_FS_DAX = 3,
	MEMORY_DEVICE_GENERIC = 4,
	MEMORY_DEVICE_PCI_P2PDMA = 5,
};

struct dev_pagemap {
	struct percpu_ref ref;
	enum memory_type type;
	unsigned int flags;
	unsigned long vmemmap_shift;
	const struct dev_pagemap_ops *ops;
	int nr_range;
	struct range range;
};

struct super_block {
	u32 s_dev;
};

struct inode {
	unsigned long i_ino;
	struct super_block *i_sb;
};

struct address_space {
	struct inode *host;
};

struct file {
	struct address_space *f_mapping;
};

struct vm_area_struct {
	unsigned long vm_start;
	struct file *vm_file;
};

/* include/linux/mm_types.h; vm_fault.flags is this enum, which CO-RE must see as an enum */
enum fault_flag { FAULT_FLAG_WRITE = 1 };

struct vm_fault {
	struct vm_area_struct *vma;
	unsigned long pgoff;
	unsigned long address;
	enum fault_flag flags;
};

struct xa_state {
	unsigned long xa_index;
};

struct iomap {
	u16 flags;
};

struct iomap_iter {
	struct iomap iomap;
};

struct trace_entry {
	unsigned short type;
};

/* include/trace/events/fs_dax.h: the plain-tracepoint record layouts (fallback for tp_btf). */
struct trace_event_raw_dax_pte_fault_class {
	struct trace_entry ent;
	unsigned long ino;
	unsigned long pgoff;
	u32 dev;
	unsigned int flags;
	int result;
};

struct trace_event_raw_dax_pmd_fault_class {
	struct trace_entry ent;
	unsigned long ino;
	unsigned long pgoff;
	u32 dev;
	unsigned int flags;
	int result;
};

#pragma clang attribute pop

/* Enumerators resolved against the running kernel with bpf_core_enum_value(). */
enum zone_type { ZONE_DEVICE = 4, __MAX_NR_ZONES = 5 };
enum pageflags { PG_head = 6 };

#endif
