import { memmapArg } from './cmdline.js';

/**
 * The kinds of pmem the guest can have, covering what users run:
 * - `memmap`: a legacy e820 region from `memmap=1G!5G` (raw namespace, memmap in RAM);
 * - `nvdimm-fsdax`: qemu's emulated NVDIMM with labels and an fsdax namespace (memmap in pmem,
 *   `map=dev`), as on real pmem hosts;
 * - `nvdimm-devdax`: the same NVDIMM as a device-dax namespace (`/dev/daxX.Y`, no filesystem).
 */
export type PmemKind = 'memmap' | 'nvdimm-fsdax' | 'nvdimm-devdax';
export type DaxFs = 'ext4' | 'xfs';

export interface PmemOptions {
  kind: PmemKind;
  /** Filesystem for memmap and nvdimm-fsdax; ignored for devdax. */
  fs?: DaxFs;
  /** Guest RAM in MiB (the memmap region is carved out of it). */
  memoryMiB: number;
  /** Backing file for the NVDIMM (sparse; the caller deletes it). */
  nvdimmImage?: string;
}

export interface PmemPlan {
  machine: string;
  memoryArg: string;
  qemuArgs: string[];
  cmdline: string[];
  /** A file qemu needs to exist with this size before it starts. */
  imageFile?: { path: string; sizeBytes: number };
  /** Shell (run in the guest chroot) that sets up pmem and exports DAX_* variables. */
  guestSetup: string;
}

const MEMMAP_SIZE_MIB = 1024;
// Above 4 GiB: below it, q35's PCI hole overlaps and the second half of the region fails to probe
// (-16), as seen on these machines with memmap=1G!2G.
const MEMMAP_START_MIB = 5 * 1024;
// With label-size=1M the usable region must be a multiple of the 16 MiB region alignment: 1025M
// works, 1G + 128K labels did not (docs/vm-lab.md "Before the lab").
const NVDIMM_SIZE_MIB = 1025;

/**
 * mkfs options that make PMD faults deterministic: 2 MiB stripe alignment so extents start on 2 MiB
 * boundaries of the device (the pmem.io recommendation for DAX). XFS also gets a 2 MiB extent size
 * hint on the mount's root so every new file inherits it.
 */
function mkfsAndMount(fs: DaxFs): string {
  const mkfs =
    fs === 'xfs'
      ? 'mkfs.xfs -q -f -m reflink=0 -d su=2m,sw=1 "$DAX_DEV"'
      : 'mkfs.ext4 -q -F -b 4096 -E stride=512,stripe_width=512 "$DAX_DEV"';
  const hint =
    fs === 'xfs' ? 'xfs_io -c "extsize 2m" "$DAX_MNT" || daxmon_fail "xfs_io extsize failed"\n' : '';
  return `${mkfs} >/dev/null || daxmon_fail "mkfs.${fs} on $DAX_DEV failed"
mkdir -p "$DAX_MNT"
mount -t ${fs} -o dax "$DAX_DEV" "$DAX_MNT" || daxmon_fail "mount -o dax of $DAX_DEV failed"
grep -q " $DAX_MNT .*dax" /proc/mounts || daxmon_fail "$DAX_MNT is not mounted with dax"
${hint}export DAX_FS=${fs}
`;
}

/** The nd device that nd_pmem is bound to for a pmem block device (namespaceX.Y or pfnX.Y). */
const FIND_ND_DEV = `DAX_ND_DEV=$(basename "$(readlink -f /sys/block/$(basename "$DAX_DEV")/device)")
export DAX_ND_DEV DAX_ND_DRIVER=/sys/bus/nd/drivers/nd_pmem
`;

const NDCTL_LABELS = `ndctl disable-region all >/dev/null 2>&1
ndctl init-labels -f all >/dev/null 2>&1 || daxmon_fail "ndctl init-labels failed"
ndctl enable-region all >/dev/null 2>&1 || daxmon_fail "ndctl enable-region failed"
`;

export function planPmem(opts: PmemOptions): PmemPlan {
  const fs = opts.fs ?? 'ext4';
  if (opts.kind === 'memmap') {
    if (opts.memoryMiB < MEMMAP_START_MIB + MEMMAP_SIZE_MIB - 2048) {
      throw new Error(
        `memmap pmem at ${MEMMAP_START_MIB} MiB needs at least ${MEMMAP_START_MIB + MEMMAP_SIZE_MIB - 2048} MiB of guest RAM (q35 puts RAM above 2 GiB at 4 GiB)`,
      );
    }
    return {
      machine: 'q35',
      memoryArg: `${opts.memoryMiB}M`,
      qemuArgs: [],
      cmdline: [memmapArg(MEMMAP_SIZE_MIB, MEMMAP_START_MIB)],
      guestSetup: `export DAX_KIND=memmap DAX_DEV=/dev/pmem0 DAX_MNT=/mnt/dax
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b "$DAX_DEV" ] && break; sleep 0.5; done
[ -b "$DAX_DEV" ] || daxmon_fail "no $DAX_DEV: is nd_e820 loaded and memmap= on the command line?"
${FIND_ND_DEV}${mkfsAndMount(fs)}`,
    };
  }
  const image = opts.nvdimmImage;
  if (!image) throw new Error('an NVDIMM pmem setup needs nvdimmImage');
  const common = {
    machine: 'q35,nvdimm=on',
    memoryArg: `${opts.memoryMiB}M,slots=2,maxmem=${opts.memoryMiB + 2048}M`,
    qemuArgs: [
      '-object',
      `memory-backend-file,id=nvmem1,share=on,mem-path=${image},size=${NVDIMM_SIZE_MIB}M`,
      '-device',
      'nvdimm,id=nvdimm1,memdev=nvmem1,label-size=1M',
    ],
    cmdline: [],
    imageFile: { path: image, sizeBytes: NVDIMM_SIZE_MIB * 1024 * 1024 },
  };
  if (opts.kind === 'nvdimm-devdax') {
    return {
      ...common,
      guestSetup: `export DAX_KIND=nvdimm-devdax
${NDCTL_LABELS}ndctl create-namespace -r region0 -m devdax > /tmp/daxmon/namespace.json 2>&1 || daxmon_fail "ndctl create-namespace -m devdax failed: $(cat /tmp/daxmon/namespace.json)"
DAX_CHARDEV=$(ls /dev/dax*.* 2>/dev/null | head -1)
[ -c "$DAX_CHARDEV" ] || daxmon_fail "no /dev/daxX.Y after create-namespace"
export DAX_CHARDEV DAX_DAX_DEV=$(basename "$DAX_CHARDEV") DAX_DAX_DRIVER=/sys/bus/dax/drivers/device_dax
`,
    };
  }
  return {
    ...common,
    guestSetup: `export DAX_KIND=nvdimm-fsdax DAX_MNT=/mnt/dax
${NDCTL_LABELS}ndctl create-namespace -r region0 -m fsdax > /tmp/daxmon/namespace.json 2>&1 || daxmon_fail "ndctl create-namespace -m fsdax failed: $(cat /tmp/daxmon/namespace.json)"
DAX_DEV=/dev/$(sed -n 's/.*"blockdev":"\\([a-z0-9.]*\\)".*/\\1/p' /tmp/daxmon/namespace.json | head -1)
[ -b "$DAX_DEV" ] || DAX_DEV=$(ls /dev/pmem* | head -1)
export DAX_DEV
${FIND_ND_DEV}${mkfsAndMount(fs)}`,
  };
}
