import type { ViolationKind } from '../../src/checks/types.js';
import type { GroundTruth, TruthContext } from './truth.js';
import { frees, only, pmdInserts, pteInserts } from './truth.js';

/**
 * A DAX workload and what it must cause. `args` is the daxwl command line after the phase base
 * (guest shell, so $DAX_MNT and friends expand in the guest); `steps` names the workload's steps in
 * order, which is how their phase ids (base + 1, base + 2, ...) map back to names.
 */
export interface Scenario {
  name: string;
  description: string;
  /** `fs`: needs a DAX-mounted filesystem; `devdax`: needs /dev/daxX.Y. */
  needs: 'fs' | 'devdax';
  args: string;
  steps: string[];
  /** A guest shell test; when it fails the scenario is reported as skipped with this reason. */
  precondition?: { test: string; reason: string };
  /** Runs in the background and keeps its mappings (it is never killed before the guest powers off). */
  holds?: boolean;
  /** Breaks the pmem setup for whatever runs after it: always scheduled last. */
  destructive?: boolean;
  /**
   * How this scenario breaks an invariant of docs/kernel-model.md §5 on this kernel: daxmon must report
   * violations of exactly these kinds in it (at least one each). Undefined for a healthy scenario,
   * in which daxmon must report none.
   */
  unhealthy?(ctx: TruthContext): { why: string; kinds: ViolationKind[] } | undefined;
  /**
   * Why the release of GUP gets (FOLL_GET) in this scenario is invisible on this kernel, so that a
   * folio whose last event is such a get cannot be shown back at idle (reported as not checked).
   */
  unseenGetRelease?(ctx: TruthContext): string | undefined;
  truth(ctx: TruthContext): GroundTruth;
}

/**
 * 6.1's xfs_setattr_size writes back the range around the new EOF before shrinking
 * (filemap_write_and_wait_range), which on DAX is one dax_writeback_one for the entry there;
 * measured on every truncate to 0 on 6.1 xfs, never on 6.1 ext4, 6.12 or 7.x.
 */
function xfs61Truncate(series: string, fs: string | undefined): number {
  return series === '6.1' && fs === 'xfs' ? 1 : 0;
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'pte-fault',
    description:
      'a 1 MiB file written with write(2), then written page by page through a shared mapping, read by a forked child, and unmapped',
    needs: 'fs',
    args: 'pte-fault "$DAX_MNT/pte-fault"',
    steps: ['write-faults', 'child-read-faults', 'munmap'],
    truth: ({ model }) => ({
      steps: {
        'write-faults': only({ pte_fault: 256, entry_insert: 256, ...pteInserts(model, 256, true) }),
        // fork copies no PTEs of a shared file mapping without an anon_vma, so the child faults
        // every page again; its exit drops its mappings but the parent's keep every folio alive.
        'child-read-faults': only({ pte_fault: 256, ...pteInserts(model, 256, false) }),
        munmap: only(frees(model, 256)),
      },
    }),
  },
  {
    name: 'pmd-fault',
    description:
      'a 4 MiB file created with ftruncate, mapped 2 MiB aligned: PMD write faults, munmap, PMD read faults, munmap',
    needs: 'fs',
    args: 'pmd-fault "$DAX_MNT/pmd-fault"',
    steps: ['write-faults', 'munmap-written', 'read-faults', 'munmap-read'],
    truth: ({ model }) => ({
      steps: {
        'write-faults': only({ pmd_fault: 2, entry_insert: 2, ...pmdInserts(model, 2) }),
        // The new model makes the folio compound when it is associated (dax_folio_init), so one free
        // per 2 MiB folio.
        'munmap-written': only(frees(model, 2)),
        'read-faults': only({ pmd_fault: 2, ...pmdInserts(model, 2) }),
        'munmap-read': only(frees(model, 2)),
      },
    }),
  },
  {
    name: 'truncate',
    description: 'a mapped 256-page file truncated to 0 while still mapped, then unmapped',
    needs: 'fs',
    args: 'truncate "$DAX_MNT/truncate"',
    steps: ['write-faults', 'truncate-mapped', 'munmap'],
    truth: ({ model, series, fs }) => ({
      steps: {
        'write-faults': only({ pte_fault: 256, entry_insert: 256, ...pteInserts(model, 256, true) }),
        // Breaking layouts unmaps every page first (unmap_mapping_pages), so nothing is busy and the
        // new model frees every folio inside the truncate.
        'truncate-mapped': only({
          ...frees(model, 256),
          entry_remove: 256,
          writeback_one: xfs61Truncate(series, fs),
        }),
        munmap: only(),
      },
    }),
  },
  {
    name: 'hole-punch',
    description: 'a hole punched in the middle 128 pages of a mapped 384-page file, then read back',
    needs: 'fs',
    args: 'hole-punch "$DAX_MNT/hole-punch"',
    steps: ['write-faults', 'punch', 'read-hole', 'munmap'],
    truth: ({ model, series, fs }) => ({
      steps: {
        'write-faults': only({ pte_fault: 384, entry_insert: 384, ...pteInserts(model, 384, true) }),
        // Both filesystems break layouts for the whole file before a punch (ext4_break_layouts,
        // xfs_break_dax_layouts → dax_layout_busy_page_range(0, LLONG_MAX)), which unmaps every
        // page, not only the punched ones: the new model frees all 384.
        punch: only({
          ...frees(model, 384),
          // The new model disassociates every entry whose folio the layout break freed (all 384);
          // the old one removes the punched 128. Measured by daxmon on 7.3, 6.12 and 6.1.
          entry_remove: model === 'new' ? 384 : 128,
          // Older kernels write the range back before punching (filemap_write_and_wait_range in
          // ext4_punch_hole / xfs_flush_unmap_range), a DAX writeback of the 128 dirty entries.
          // Measured: 6.1 ext4 and xfs, 6.12 xfs; not 6.12 ext4, not 7.x.
          writeback_one: series === '6.1' || (series === '6.12' && fs === 'xfs') ? 128 : 0,
        }),
        // A read fault on a hole maps the shared zero page (dax_load_hole): through
        // vmf_insert_page_mkwrite in the new model, vmf_insert_mixed in the old. It is not a pmem
        // page, so nothing is freed when it is unmapped.
        'read-hole': only({ pte_fault: 128, load_hole: 128, ...pteInserts(model, 128, false) }),
        munmap: only(),
      },
    }),
  },
  {
    name: 'msync',
    description:
      'a sparse 256-page file written through a mapping, msync(MS_SYNC), written again, fsync, unmapped',
    needs: 'fs',
    args: 'msync "$DAX_MNT/msync"',
    steps: ['write-faults', 'msync', 'rewrite-faults', 'fsync', 'munmap'],
    truth: ({ model }) => ({
      steps: {
        'write-faults': only({ pte_fault: 256, entry_insert: 256, ...pteInserts(model, 256, true) }),
        msync: only({ writeback_one: 256 }),
        // Writeback write-protects each PTE (dax_entry_mkclean), so every store faults again and the
        // fault handler re-inserts the same page writable.
        'rewrite-faults': only({ pte_fault: 256, ...pteInserts(model, 256, true) }),
        fsync: only({ writeback_one: 256 }),
        munmap: only(frees(model, 256)),
      },
    }),
  },
  {
    name: 'cow',
    description:
      'MAP_PRIVATE of a written 256-page file: write-first on half, read then write on the other half, unmap',
    needs: 'fs',
    args: 'cow "$DAX_MNT/cow"',
    steps: ['write-first', 'read', 'write-after-read', 'munmap'],
    truth: ({ model }) => ({
      steps: {
        // A write fault on a private mapping copies in the DAX fault handler (dax_fault_cow_page):
        // the new PTE points at an anonymous page, no pmem page is inserted.
        'write-first': only({ pte_fault: 128 }),
        read: only({ pte_fault: 128, entry_insert: 128, ...pteInserts(model, 128, false) }),
        // do_wp_page copies without calling the DAX fault handler; in the new model the replaced
        // pmem folio loses its only mapping and is freed.
        'write-after-read': only(frees(model, 128)),
        munmap: only(),
      },
    }),
  },
  {
    name: 'odirect',
    description: 'O_DIRECT write and read of 64 pages between a DAX-mapped buffer and a null_blk device',
    needs: 'fs',
    args: 'odirect "$DAX_MNT/odirect" /dev/nullb0',
    precondition: { test: '[ -b /dev/nullb0 ]', reason: 'no /dev/nullb0 (null_blk not loaded)' },
    unseenGetRelease: ({ series }) =>
      series === '6.1'
        ? "6.1 drops the block layer's page references without __put_devmap_managed_page_refs (0 seen by daxmon and by the bpftrace observer), so the 64 pages cannot be seen back at refcount 1"
        : undefined,
    steps: ['write-faults', 'dio-write', 'dio-read', 'munmap'],
    truth: ({ model, series }) => ({
      steps: {
        'write-faults': only({ pte_fault: 64, entry_insert: 64, ...pteInserts(model, 64, true) }),
        // The block layer takes a reference on each page for the I/O and drops it after. 6.12: every
        // drop goes through __put_devmap_managed_folio_refs (gup_put_folio checks the devmap key).
        // 6.1: the pages are grabbed (64 try_grab_folio per I/O) but released without
        // __put_devmap_managed_page_refs: measured, 0 in both directions. New model: the gets and
        // puts are inline atomics and the mapping keeps each folio alive, so nothing is freed.
        'dio-write': only({ put_devmap_managed: series === '6.12' ? 64 : 0 }),
        'dio-read': only({ put_devmap_managed: series === '6.12' ? 64 : 0 }),
        munmap: only(frees(model, 64)),
      },
    }),
  },
  {
    name: 'pin-truncate-mapped',
    description:
      '16 pages of a mapped 256-page file pinned by vmsplice into a pipe; a child truncates the file while it is still mapped; the pipe is drained after 2 s',
    needs: 'fs',
    args: 'pin-truncate "$DAX_MNT/pin-mapped" mapped',
    steps: ['write-faults', 'vmsplice', 'munmap-before', 'truncate-wait', 'drain', 'munmap-after'],
    truth: ({ model, series, fs }) => ({
      steps: {
        'write-faults': only({ pte_fault: 256, entry_insert: 256, ...pteInserts(model, 256, true) }),
        vmsplice: only(),
        'truncate-wait': only({
          ...frees(model, 240),
          busy_found: { min: 1, why: 'the truncate rescans after every wakeup; how often depends on timing' },
        }),
        drain: only({
          ...frees(model, 16),
          put_devmap_managed: model === 'old' ? 16 : 0,
          busy_found: { min: 0, max: 16, why: 'rescans while the pipe releases its pages one by one' },
          // the truncate goes on once the pipe is drained
          writeback_one: xfs61Truncate(series, fs),
          entry_remove: 256,
        }),
        'munmap-after': only(),
      },
      facts: { truncate_blocked: true, truncate_rc: 0, drained_bytes: 65536 },
    }),
  },
  {
    name: 'pin-truncate-unmapped',
    description:
      '16 pages pinned by vmsplice, the file unmapped, then truncated by a child; the pipe is drained after 2 s',
    needs: 'fs',
    args: 'pin-truncate "$DAX_MNT/pin-unmapped" unmapped',
    unhealthy: ({ model }) =>
      model === 'old'
        ? {
            why: 'V4/V8: the old truncate removes the DAX entries of the 16 pinned pages without waiting',
            kinds: ['entry_removed_while_busy'],
          }
        : undefined,
    steps: ['write-faults', 'vmsplice', 'munmap-before', 'truncate-wait', 'drain', 'munmap-after'],
    truth: ({ model, series, fs }) => ({
      steps: {
        'write-faults': only({ pte_fault: 256, entry_insert: 256, ...pteInserts(model, 256, true) }),
        vmsplice: only(),
        'munmap-before': only(frees(model, 240)),
        'truncate-wait':
          model === 'new'
            ? only({ busy_found: { min: 1, why: 'rescans after each wakeup' } })
            : // docs/kernel-model.md V8: dax_layout_busy_page_range returns early once !mapping_mapped, so
              // the old truncate does not wait for the pinned pages, removes their DAX entries, and
              // dax_disassociate_entry warns (WARN_ON_ONCE(trunc && page_ref_count(page) > 1)).
              only({ kernel_warn: 1, entry_remove: 256, writeback_one: xfs61Truncate(series, fs) }),
        drain: only({
          ...frees(model, 16),
          // new model: the truncate removes the entries once the pipe let go of the last page
          entry_remove: model === 'new' ? 256 : 0,
          put_devmap_managed: model === 'old' ? 16 : 0,
          busy_found: { min: 0, max: 16, why: 'rescans while the pipe releases its pages' },
        }),
      },
      facts: { truncate_blocked: model === 'new', truncate_rc: 0, drained_bytes: 65536 },
      kernelWarnings: model === 'old' ? 1 : 0,
    }),
  },
  {
    name: 'unbind-mapped',
    description:
      'nd_pmem unbound from the namespace while a process maps 256 pages of a DAX file and pins 16 of them in a pipe',
    needs: 'fs',
    args: 'unbind "$DAX_MNT/unbind" "$DAX_ND_DRIVER/unbind" "$DAX_ND_DEV" file',
    unhealthy: () => ({
      why: 'V5: the pgmap is torn down under 256 mapped and 16 pinned pages',
      kinds: ['teardown_with_live_folios'],
    }),
    steps: ['write-faults', 'vmsplice', 'unbind'],
    holds: true,
    destructive: true,
    truth: ({ model }) => ({
      steps: {
        'write-faults': only({ pte_fault: 256, entry_insert: 256, ...pteInserts(model, 256, true) }),
        vmsplice: only(),
        // memunmap_pages waits only for pgmap->ref, which FS DAX folios never hold (docs/kernel-model.md
        // §1): the pgmap is torn down under live mappings and pins, and the unbind returns.
        unbind: only({
          memunmap_pages: 1,
          pgmap_ref_release: 1,
          kill_dax: 1,
          entry_remove: {
            min: 0,
            why: 'the unbind invalidates the entries of every file on the filesystem, earlier scenarios included',
          },
        }),
      },
      // Then the holder is killed (after the counts are saved): its exit touches struct pages that
      // memunmap_pages removed with the memmap, and the kernel oopses. New model: exit_mmap zaps the
      // PTEs, which now point at refcounted folios (__zap_vma_range). Old model: zapping devmap
      // PTEs touches no struct page; the crash comes when the pipe puts its pinned pages
      // (page_cache_pipe_buf_release). Measured on 7.3, 6.12 and 6.1, ext4 and xfs.
      facts: {
        unbind_rc: 0,
        exit_oops: true,
        exit_oops_rip: model === 'new' ? '__zap_vma_range' : 'page_cache_pipe_buf_release',
      },
    }),
  },
  {
    name: 'devdax-map',
    description:
      'a 64 MiB shared mapping of /dev/daxX.Y (2 MiB alignment) written page by page, then unmapped',
    needs: 'devdax',
    args: 'devdax "$DAX_CHARDEV"',
    steps: ['write-faults', 'munmap'],
    truth: ({ model }) => ({
      steps: {
        'write-faults': only(pmdInserts(model, 32)),
        // device-dax pages are MEMORY_DEVICE_GENERIC: idle at refcount 1 in both models, never freed.
        munmap: only(),
      },
    }),
  },
  {
    name: 'devdax-unbind',
    description:
      'device_dax unbound from daxX.Y while 64 MiB of it is mapped and 16 pages are pinned in a pipe',
    needs: 'devdax',
    args: 'unbind "$DAX_CHARDEV" "$DAX_DAX_DRIVER/unbind" "$DAX_DAX_DEV" chardev',
    unhealthy: () => ({
      why: 'V5: the pgmap is torn down under 64 MiB mapped and 16 pinned pages',
      kinds: ['teardown_with_live_folios'],
    }),
    steps: ['write-faults', 'vmsplice', 'unbind'],
    holds: true,
    destructive: true,
    truth: ({ model }) => ({
      steps: {
        'write-faults': only(pmdInserts(model, 32)),
        vmsplice: only(),
        // kill_dev_dax() runs kill_dax() and unmaps the device's mappings before the pgmap goes.
        unbind: only({ memunmap_pages: 1, pgmap_ref_release: 1, kill_dax: 1 }),
      },
      // Then the holder is killed: the unbind already zapped its mappings (kill_dev_dax), so its
      // exit unmaps nothing, but the pipe still holds 16 pages whose memmap is gone, and putting
      // them oopses in both models (page_cache_pipe_buf_release). Measured on 7.3, 6.12 and 6.1.
      facts: { unbind_rc: 0, exit_oops: true, exit_oops_rip: 'page_cache_pipe_buf_release' },
    }),
  },
];

export function scenariosFor(needs: 'fs' | 'devdax', filter?: readonly string[]): Scenario[] {
  const list = SCENARIOS.filter((s) => s.needs === needs && (!filter || filter.includes(s.name)));
  // Destructive scenarios tear down the pmem everything else uses: last, and only one of them.
  const safe = list.filter((s) => !s.destructive);
  const destructive = list.filter((s) => s.destructive).slice(0, 1);
  return [...safe, ...destructive];
}
