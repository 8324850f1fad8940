/**
 * What each violation kind means in kernel terms (docs/kernel-model.md §5), and what to look at first.
 * Each alert runbook is built from one of these, so the on-call reader sees the kernel fact behind the
 * check rather than a generic "a violation happened".
 */
import type { ViolationKind } from '../metrics-contract.js';

export interface KindGuide {
  /** The invariant's id in docs/kernel-model.md §5. */
  readonly id: string;
  /** One line for the alert summary. */
  readonly title: string;
  /** What the kernel did wrong and why it matters. */
  readonly meaning: string;
  /** Kind-specific things to check, after the common steps. */
  readonly look: readonly string[];
}

export const KIND_GUIDES: Readonly<Record<ViolationKind, KindGuide>> = {
  map_zero_ref: {
    id: 'V1',
    title: 'FS DAX page mapped with refcount 0',
    meaning:
      'An FS DAX folio was inserted into a page table (vmf_insert_page_mkwrite / vmf_insert_folio_pmd) or grabbed by GUP while its _refcount was 0. On new-model kernels a mapped FS DAX folio must hold a reference; the matching put can then underflow and free a page that is still mapped.',
    look: [
      'dmesg for a WARN from try_grab_folio or a "page dumped because" report naming the same pfn.',
      'The stack in the violation: which fault path (dax_iomap_pte_fault / dax_iomap_pmd_fault) did the insert.',
    ],
  },
  refcount_underflow: {
    id: 'V2',
    title: 'ZONE_DEVICE refcount underflow or put on a free page',
    meaning:
      'A put took a folio below its idle refcount. Old model: __put_devmap_managed_folio_refs saw refcount - refs < 1 (FS DAX refcounts are 1-based there), or an FS DAX folio reached free_zone_device_page/folio, which has no page_free for it. New model: a negative count, or free_zone_device_folio ran twice with no get in between. The page can be reused while someone still holds it.',
    look: [
      'dmesg for "page_ref" / "VM_BUG_ON_FOLIO" / bad page state reports for the pfn.',
      "The folio's recent events in the violation record: the last folio_put, gup and zone_device_free for that pfn.",
    ],
  },
  free_while_mapped: {
    id: 'V3',
    title: 'ZONE_DEVICE folio freed while still mapped',
    meaning:
      'free_zone_device_folio ran while _mapcount or _large_mapcount said the folio was still in a page table. For PRIVATE/P2PDMA the driver gets the page back through page_free while a process maps it; for FS DAX the page is woken as idle while mapped.',
    look: [
      'Which process maps the file or device: grep the pgmap device in /proc/*/maps.',
      'dmesg for bad page state or rmap warnings near the violation time.',
    ],
  },
  entry_removed_while_busy: {
    id: 'V4',
    title: 'DAX entry removed while its page was busy',
    meaning:
      'A DAX mapping entry was removed (truncate, hole punch, invalidate) while its page still had extra references: old model refcount > 1 at dax_disassociate_entry, new model refcount != 0 at removal, a PMD split with a non-zero tail refcount, or dax_delete_mapping_entry reached from truncate. The filesystem can hand the block to another file while DMA or a GUP user still writes it; only the dax_break_layout wait prevents this.',
    look: [
      'dmesg for the WARN in fs/dax.c (dax_disassociate_entry) or mm/truncate.c for a leftover entry.',
      'Which file was truncated: the inode in the violation, then the filesystem (xfs / ext4) logs.',
      'Pinning users of the file: RDMA memory registrations, io_uring fixed buffers, vfio.',
    ],
  },
  teardown_with_live_folios: {
    id: 'V5',
    title: 'pgmap torn down with live folios, or its ref release stalled',
    meaning:
      'memunmap_pages ran for a pgmap while daxmon tracked folios in it above their idle refcount, still mapped, or with a live DAX entry. memunmap_pages waits only for pgmap->ref, and FS DAX folios hold no pgmap reference, so the struct pages go away under live users. A warning-severity one means the percpu ref release took longer than the threshold.',
    look: [
      'Which device: GET http://{{ $labels.instance }}/api/pgmaps lists the pgmaps with type and device (also daxmon_pgmap_info); ndctl list -N and daxctl list show the namespace.',
      'What started the teardown: ndctl disable-namespace, daxctl reconfigure-device, a driver unbind, or umount of a DAX filesystem.',
      'Who still maps it: lsof on the /dev/daxX.Y device or the DAX-mounted filesystem.',
      'dmesg for kill_dax / dax_holder_notify_failure and percpu ref warnings.',
    ],
  },
  idle_refcount_mismatch: {
    id: 'V6',
    title: 'unmapped, unpinned folio not at its idle refcount',
    meaning:
      'A folio with no mapping and no pin was not at the idle refcount for its pgmap type and kernel model (FS DAX: 1 on old kernels, 0 on new; GENERIC: 1; P2PDMA: 1 on old, 0 on new; PRIVATE and COHERENT: 0) for longer than the threshold. Stuck above idle is a leaked get, and dax_break_layout will wait on that page forever; below idle (an old-model FS DAX folio at 0) is the off-by-one that precedes an underflow.',
    look: [
      'The refcount model in daxmon_kernel_info: a mismatch right after a kernel upgrade can mean daxmon detected the model wrongly (report it).',
      "The folio's recent events in the violation record (gup, folio_put): the get without a put.",
    ],
  },
  compound_pgmap_mismatch: {
    id: 'V7',
    title: 'compound ZONE_DEVICE folio with inconsistent pgmap',
    meaning:
      'A tail page of a PMD folio pointed at a different pgmap than its head (or than the one registered for that pfn), a page had a NULL or odd pgmap word after a split, or a tail had a non-zero refcount. free_zone_device_folio WARNs on a missing pgmap; a wrong one sends the page to the wrong page_free and teardown accounting.',
    look: [
      'dmesg for the WARN in free_zone_device_folio.',
      'Whether the pfn range was re-registered (pgmap_registered events) shortly before.',
    ],
  },
  busy_wait_stuck: {
    id: 'V8',
    title: 'busy-page layout-break wait not finishing',
    meaning:
      'A truncate or hole punch has waited on a busy DAX page (dax_break_layout, xfs_break_dax_layouts, ext4_break_layouts) past the threshold: warning at 10 s, error at the configured limit (60 s by default). The waiter sleeps TASK_UNINTERRUPTIBLE; at hung_task_timeout_secs the kernel reports a hung task.',
    look: [
      'The waiting task: dmesg | grep "blocked for more than", or cat /proc/<pid>/stack for D-state tasks (ps -eo pid,stat,comm | grep " D").',
      'Who holds the busy page (pfn in the violation): long-lived pins from RDMA, io_uring fixed buffers, vfio or O_DIRECT to a device.',
      'On old kernels, dax_layout_busy_page_range skips pinned pages once the mapping is unmapped: a stuck wait there can be a pin daxmon saw but the kernel did not.',
    ],
  },
  page_free_missing: {
    id: 'V9',
    title: 'ZONE_DEVICE page_free callback not called',
    meaning:
      "A PRIVATE, COHERENT or P2PDMA folio's refcount reached zero but the pgmap's ops->page_free never ran, so the driver never learns the page is free and leaks it (old kernels WARN and return when page_free is missing). FS DAX has no page_free and is not checked.",
    look: [
      'The driver that owns the pgmap (daxmon_pgmap_info device label): nouveau/amdgpu SVM, a P2PDMA provider.',
      'dmesg for the WARN in free_zone_device_folio.',
    ],
  },
  devmap_in_new_model: {
    id: 'V10',
    title: 'pte_devmap-style pfn mapping of FS DAX on a new-model kernel',
    meaning:
      'On a kernel where FS DAX folios are refcounted like normal pages, an FS DAX pfn was mapped through a pfn-insert path (vmf_insert_mixed*, vmf_insert_pfn_pmd/pud) that takes no page reference, or devmap-era symbols are present. The folio can go idle while still mapped. On old kernels the mirror anomaly is FS DAX mapped with vmf_insert_page_mkwrite.',
    look: [
      'The kernel release in daxmon_kernel_info and whether it carries backported DAX patches (distribution kernels).',
      'Which driver or filesystem inserted the pfn: the stack in the violation.',
    ],
  },
  longterm_pin_on_fsdax: {
    id: 'V11',
    title: 'FOLL_LONGTERM pin succeeded on FS DAX',
    meaning:
      'A long-term GUP pin (FOLL_LONGTERM) succeeded on an FS DAX page. check_vma_flags / folio_is_longterm_pinnable must refuse it, because the filesystem can never break the layout of a long-term pinned block: the next truncate of that file waits forever.',
    look: [
      'The pinning process and subsystem (RDMA ibv_reg_mr, vfio, io_uring register buffers): the stack in the violation.',
      'Expect busy_wait_stuck on the next truncate of that file.',
    ],
  },
};
