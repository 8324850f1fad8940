// SPDX-License-Identifier: GPL-2.0-only
/*
 * daxfi: fault injection for the violations VM test. Takes (op=get) or drops (op=put) one
 * reference on the struct page of a pmem pfn with page_ref_inc/page_ref_dec, which no probe of
 * daxmon sees, so the kernel is left in the state a refcounting bug would leave it in; daxmon must
 * notice it from what the kernel itself does next (a fault, a put, a truncate).
 *
 * One action per load: init does it and returns -ECANCELED so the module never stays loaded
 * (insmod reports "Operation canceled" by design; the action is in dmesg).
 */
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/module.h>

static unsigned long pfn;
module_param(pfn, ulong, 0);
MODULE_PARM_DESC(pfn, "pfn of a ZONE_DEVICE (pmem) page");
static char *op = "";
module_param(op, charp, 0);
MODULE_PARM_DESC(op, "get: one more reference; put: one fewer (never frees)");

static int __init daxfi_init(void)
{
	struct page *page;
	int before;

	if (!pfn_valid(pfn))
		return -EINVAL;
	page = pfn_to_page(pfn);
	// Only pmem pages: a stray pfn must not corrupt ordinary memory.
	if (!is_zone_device_page(page))
		return -EINVAL;
	before = page_ref_count(page);
	if (!strcmp(op, "get"))
		page_ref_inc(page);
	else if (!strcmp(op, "put") && before > 0)
		page_ref_dec(page);
	else
		return -EINVAL;
	pr_info("daxfi: pfn %#lx %s: refcount %d -> %d\n", pfn, op, before, page_ref_count(page));
	return -ECANCELED;
}
module_init(daxfi_init);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("daxmon VM test: take or drop a reference on a pmem page");
