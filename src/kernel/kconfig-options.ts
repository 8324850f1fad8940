/**
 * The one catalogue of kernel config options daxmon and its lab care about: what is required,
 * what is recommended, why, and what each costs. The shipped fragment
 * (deploy/kconfig/daxmon.config, printed by `daxmon kconfig`), doctor's config section and the lab's
 * check of a user's kernel all read it, so they cannot disagree. Values seen in Debian's kernels
 * and the sources of each claim: docs/kernel-model.md §14.
 */

/** required: daxmon (or the lab) does not work without it; recommended: it sees or tests more. */
export type KconfigNeed = 'required' | 'recommended';

/**
 * daxmon: the monitor itself; pmem: persistent memory with struct pages (FS DAX on a pmem
 * namespace), needed on any DAX host — doctor checks these two; lab: what `daxmon lab` adds to
 * boot a kernel under qemu with memmap= pmem and the host's root over 9p (a kernel booted in the
 * lab is checked against all three).
 */
export type KconfigScope = 'daxmon' | 'pmem' | 'lab';

export const KCONFIG_SCOPES: readonly KconfigScope[] = ['daxmon', 'pmem', 'lab'];

export interface KconfigOption {
  /** Without the CONFIG_ prefix. */
  readonly key: string;
  readonly need: KconfigNeed;
  readonly scope: KconfigScope;
  /** What the fragment sets: y, or m where a module is enough (y satisfies m too). */
  readonly value: 'y' | 'm';
  /** Why daxmon cares, one line. */
  readonly why: string;
  /** What turning it on costs (recommended options: so the developer can decide). */
  readonly cost: string;
}

const NO_RUNTIME_COST = 'none at run time until something uses it';

export const KCONFIG_OPTIONS: readonly KconfigOption[] = [
  // ---- daxmon, required --------------------------------------------------------------------
  {
    key: 'BPF_SYSCALL',
    need: 'required',
    scope: 'daxmon',
    value: 'y',
    why: 'BPF at all: every probe is a BPF program',
    cost: NO_RUNTIME_COST,
  },
  {
    key: 'BPF_EVENTS',
    need: 'required',
    scope: 'daxmon',
    value: 'y',
    why: 'BPF programs on tracepoints and kprobes',
    cost: NO_RUNTIME_COST,
  },
  {
    key: 'DEBUG_INFO_BTF',
    need: 'required',
    scope: 'daxmon',
    value: 'y',
    why: 'BTF: tp_btf, fentry/fexit and CO-RE relocations of the libbpf backend',
    cost: 'a few MiB of vmlinux and build time (pahole); nothing at run time',
  },
  {
    key: 'DYNAMIC_FTRACE_WITH_DIRECT_CALLS',
    need: 'required',
    scope: 'daxmon',
    value: 'y',
    why: 'BPF trampolines: fentry/fexit probes of the libbpf backend attach through them',
    cost: 'a nop at each traceable function entry (present with FUNCTION_TRACER anyway)',
  },
  {
    key: 'KALLSYMS',
    need: 'required',
    scope: 'daxmon',
    value: 'y',
    why: 'doctor and the probe planner read /proc/kallsyms to find hooked functions',
    cost: 'the symbol table in kernel memory',
  },
  {
    key: 'ZONE_DEVICE',
    need: 'required',
    scope: 'daxmon',
    value: 'y',
    why: 'struct pages for device memory: the folios daxmon tracks',
    cost: NO_RUNTIME_COST,
  },
  {
    key: 'FS_DAX',
    need: 'required',
    scope: 'daxmon',
    value: 'y',
    why: 'DAX mounts and the fs_dax:* tracepoints',
    cost: NO_RUNTIME_COST,
  },
  // ---- daxmon, recommended -----------------------------------------------------------------
  {
    key: 'DEBUG_INFO_BTF_MODULES',
    need: 'recommended',
    scope: 'daxmon',
    value: 'y',
    why: 'BTF for module functions (nd_pmem, xfs, ext4 when modules)',
    cost: 'module size and build time; nothing at run time',
  },
  {
    key: 'KALLSYMS_ALL',
    need: 'recommended',
    scope: 'daxmon',
    value: 'y',
    why: 'data symbols such as vmemmap_base: the struct-page scan needs them (docs/scan.md)',
    cost: 'a larger kallsyms table (data symbols too)',
  },
  {
    key: 'KPROBES',
    need: 'recommended',
    scope: 'daxmon',
    value: 'y',
    why: 'the bpftrace backend (kprobe:), and static or .isra functions fentry cannot reach',
    cost: 'none until a probe is placed; each placed probe is a breakpoint or an ftrace hook',
  },
  {
    key: 'FPROBE',
    need: 'recommended',
    scope: 'daxmon',
    value: 'y',
    why: 'kprobe.multi: many functions attached in one call',
    cost: NO_RUNTIME_COST,
  },
  {
    key: 'DEBUG_PAGE_REF',
    need: 'recommended',
    scope: 'daxmon',
    value: 'y',
    why: 'page_ref:* tracepoints: every refcount change of every page, not only the hooked ones',
    cost:
      'about 30 KB of kernel code; every inlined page_ref_* operation tests a static key, virtually ' +
      'free until a tracer attaches; attached, it fires for every refcount change of every page on the host',
  },
  {
    key: 'FS_DAX_PMD',
    need: 'recommended',
    scope: 'daxmon',
    value: 'y',
    why: '2 MiB DAX faults: compound (order-9) DAX folios',
    cost: NO_RUNTIME_COST,
  },
  {
    key: 'DEVICE_PRIVATE',
    need: 'recommended',
    scope: 'daxmon',
    value: 'y',
    why: 'device-private (HMM) pages, one of the ZONE_DEVICE types of the refcount model',
    cost: NO_RUNTIME_COST,
  },
  {
    key: 'PCI_P2PDMA',
    need: 'recommended',
    scope: 'daxmon',
    value: 'y',
    why: 'P2PDMA pages (e.g. an NVMe controller memory buffer), freed at refcount 0 in the new model',
    cost: NO_RUNTIME_COST,
  },
  {
    key: 'TEST_HMM',
    need: 'recommended',
    scope: 'daxmon',
    value: 'm',
    why: 'lib/test_hmm.ko and its hmm-tests selftest: device-private and coherent pages without a GPU',
    cost: 'a module, loaded only for the tests (needs DEVICE_PRIVATE)',
  },
  {
    key: 'MEMORY_FAILURE',
    need: 'recommended',
    scope: 'daxmon',
    value: 'y',
    why: 'XFS DAX holder notifications on pmem teardown',
    cost: NO_RUNTIME_COST,
  },
  {
    key: 'DEV_DAX',
    need: 'recommended',
    scope: 'pmem',
    value: 'm',
    why: 'device-dax (/dev/daxX.Y), the GENERIC pgmap type',
    cost: NO_RUNTIME_COST,
  },
  // ---- pmem with struct pages, on any DAX host ----------------------------------------------
  {
    key: 'LIBNVDIMM',
    need: 'required',
    scope: 'pmem',
    value: 'm',
    why: 'the nd bus pmem regions and namespaces sit on',
    cost: NO_RUNTIME_COST,
  },
  {
    key: 'BLK_DEV_PMEM',
    need: 'required',
    scope: 'pmem',
    value: 'm',
    why: '/dev/pmemN, the DAX-capable block device a DAX filesystem is made on',
    cost: NO_RUNTIME_COST,
  },
  {
    key: 'NVDIMM_PFN',
    need: 'required',
    scope: 'pmem',
    value: 'y',
    why: 'fsdax namespaces with struct pages (a pfn claim): no struct page, no folio to watch',
    cost: 'struct pages for the namespace (64 bytes per 4 KiB page, in RAM or on the device)',
  },
  // ---- the lab, required: qemu with memmap= pmem and the host's root over 9p ----------------
  {
    key: 'X86_PMEM_LEGACY',
    need: 'required',
    scope: 'lab',
    value: 'm',
    why: 'memmap=SIZE!START becomes a pmem region (the lab has no real NVDIMM)',
    cost: NO_RUNTIME_COST,
  },
  {
    key: 'VIRTIO_PCI',
    need: 'required',
    scope: 'lab',
    value: 'm',
    why: 'the guest talks to qemu over virtio-pci',
    cost: NO_RUNTIME_COST,
  },
  {
    key: 'NET_9P_VIRTIO',
    need: 'required',
    scope: 'lab',
    value: 'm',
    why: '9p over virtio: the guest runs the host root read-only',
    cost: NO_RUNTIME_COST,
  },
  {
    key: '9P_FS',
    need: 'required',
    scope: 'lab',
    value: 'm',
    why: 'the 9p filesystem (host root, repo and results shares)',
    cost: NO_RUNTIME_COST,
  },
  {
    key: 'EXT4_FS',
    need: 'required',
    scope: 'lab',
    value: 'm',
    why: 'the ext4 DAX scenarios',
    cost: NO_RUNTIME_COST,
  },
  {
    key: 'XFS_FS',
    need: 'required',
    scope: 'lab',
    value: 'm',
    why: 'the xfs DAX scenarios',
    cost: NO_RUNTIME_COST,
  },
  {
    key: 'SERIAL_8250_CONSOLE',
    need: 'required',
    scope: 'lab',
    value: 'y',
    why: 'console=ttyS0: the lab reads the guest through the serial console',
    cost: NO_RUNTIME_COST,
  },
  {
    key: 'VIRTIO_NET',
    need: 'recommended',
    scope: 'lab',
    value: 'm',
    why: "the forwarded port the host's browser and Prometheus reach daxmon on",
    cost: NO_RUNTIME_COST,
  },
];

const BY_KEY = new Map(KCONFIG_OPTIONS.map((o) => [o.key, o]));

/** The catalogue entry of a key (without CONFIG_), if daxmon knows it. */
export function kconfigOption(key: string): KconfigOption | undefined {
  return BY_KEY.get(key);
}

/** The options of some scopes and needs, in catalogue order. */
export function kconfigOptions(
  filter: { scopes?: readonly KconfigScope[]; needs?: readonly KconfigNeed[] } = {},
): KconfigOption[] {
  return KCONFIG_OPTIONS.filter(
    (o) =>
      (!filter.scopes || filter.scopes.includes(o.scope)) && (!filter.needs || filter.needs.includes(o.need)),
  );
}
