/**
 * Persistent-memory inventory from sysfs, /dev and /proc/iomem: nd regions and namespaces with
 * their mode, size and resource, the block (pmemN) and device-dax (daxN.M) devices on them.
 *
 * Also the start of pgmap discovery (issue 6): a pgmap registered before daxmon starts fires no
 * hook (docs/kernel-model.md §7), so the ranges that carry ZONE_DEVICE struct pages must be found
 * here. Which namespaces have them follows from the pmem driver (docs/kernel-model.md §1 "Where the
 * FS DAX pgmap comes from"): an fsdax namespace (sysfs mode "memory": a pfn claim, or a legacy
 * e820 namespace with ND_REGION_PAGEMAP) gets an FS_DAX pgmap; a devdax namespace (mode "dax")
 * gets a GENERIC one from device_dax; raw and sector namespaces have no struct pages.
 *
 * `resource` attributes and /proc/iomem addresses are root-only (0400 / zeroed): the inventory
 * says what it could not read instead of failing.
 */
import { readFile, readdir, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
import { errnoOf } from './errors.js';

/** The namespace mode as ndctl names it; the kernel's sysfs `mode` says raw/safe/memory/dax. */
export type NamespaceMode = 'fsdax' | 'devdax' | 'sector' | 'raw' | 'unknown';

export interface NdRegion {
  name: string;
  size: number | null;
  /** Physical start, hex; null when unreadable (root only). */
  resource: string | null;
  /** `nstype`: 4 = ND_DEVICE_NAMESPACE_IO (legacy/e820), 5 = PMEM (label-backed). */
  nstype: number | null;
  persistenceDomain: string | null;
}

export interface NdNamespace {
  name: string;
  region: string | null;
  /** What the kernel prints in `mode`: raw, safe, memory, dax. */
  sysfsMode: string | null;
  mode: NamespaceMode;
  size: number | null;
  resource: string | null;
  /** The claiming nd device (pfnN.M, daxN.M, bttN.M), if any. */
  holder: string | null;
  /**
   * Where the claim keeps the struct pages (pfn/dax device `mode`): `dev` = on the pmem
   * itself (altmap, PFN_MODE_PMEM), `mem` = in RAM. null without a claim (legacy "memory" mode
   * keeps them in RAM).
   */
  memmap: 'dev' | 'mem' | null;
  align: number | null;
  /** ZONE_DEVICE struct pages exist for this namespace (fsdax and devdax). */
  structPages: boolean;
  blockDevices: string[];
  daxDevices: string[];
}

export interface DaxDevice {
  /** daxN.M on the dax bus (device-dax). */
  name: string;
  size: number | null;
  resource: string | null;
  align: number | null;
  targetNode: number | null;
  /** `device_dax` (a GENERIC pgmap, mmap-able /dev/daxN.M) or `kmem` (onlined as system RAM). */
  driver: string | null;
}

export interface IomemEntry {
  start: string;
  end: string;
  name: string;
  /** Nesting level (two spaces per level in /proc/iomem). */
  depth: number;
  /** Names of the entries nested directly below (namespace0.0, pmem0, dax0.0, …). */
  children: string[];
}

export interface IomemRead {
  readable: boolean;
  /** Every address read as zero: not root (the kernel zeroes them for unprivileged readers). */
  addressesHidden: boolean;
  entries: IomemEntry[];
  reason?: string;
}

/** A range that carries ZONE_DEVICE struct pages, for pgmap discovery at start-up (issue 6). */
export interface ZoneDeviceCandidate {
  device: string;
  /** `enum memory_type` name: FS_DAX for fsdax namespaces, GENERIC for device-dax. */
  memoryType: 'fs_dax' | 'generic';
  /**
   * Namespace/dax-device start and size. The pgmap's own range differs by the pfn device's
   * start_pad/end_trunc and, with memmap on the device, includes the altmap reservation: treat
   * as approximate until matched against a `memremap_pages` event or `folio->pgmap`.
   */
  resource: string | null;
  size: number | null;
}

export interface PmemInventory {
  /** /sys/bus/nd exists (CONFIG_LIBNVDIMM). */
  ndBus: boolean;
  /** /sys/bus/dax exists (CONFIG_DAX). */
  daxBus: boolean;
  regions: NdRegion[];
  /** Namespaces with a size (zero-size "seed" namespaces are left out). */
  namespaces: NdNamespace[];
  daxDevices: DaxDevice[];
  /** /sys/class/dax entries (older kernels, DEV_DAX_PMEM_COMPAT). */
  classDax: string[];
  /** /dev/pmem* and /dev/dax* nodes. */
  devNodes: string[];
  iomem: IomemRead;
  zoneDevice: ZoneDeviceCandidate[];
  /** Attributes that exist but could not be read, "path: ERRNO" (e.g. resource as non-root). */
  unreadable: string[];
}

export interface PmemRoots {
  sysRoot?: string;
  procRoot?: string;
  devRoot?: string;
}

// ---- pure helpers ------------------------------------------------------------------------------

/** Kernel `mode` text → ndctl name (drivers/nvdimm/namespace_devs.c mode_show). */
export function namespaceMode(sysfsMode: string | null): NamespaceMode {
  switch (sysfsMode) {
    case 'memory':
    case 'fsdax':
      return 'fsdax';
    case 'dax':
    case 'devdax':
      return 'devdax';
    case 'safe':
    case 'sector':
      return 'sector';
    case 'raw':
      return 'raw';
    default:
      return 'unknown';
  }
}

function parseIntOrNull(text: string | null): number | null {
  if (text === null) return null;
  const t = text.trim();
  if (t === '') return null;
  const n = /^0x/i.test(t) ? Number.parseInt(t, 16) : Number.parseInt(t, 10);
  return Number.isFinite(n) ? n : null;
}

const IOMEM_INTERESTING = new Set(['Persistent Memory', 'Persistent Memory (legacy)', 'Soft Reserved']);

/**
 * Pure: the persistent-memory entries of /proc/iomem ("Persistent Memory" for NFIT/label pmem,
 * "Persistent Memory (legacy)" for e820 type 12 / memmap=nn!ss, "Soft Reserved" for EFI
 * specific-purpose memory that device-dax (hmem) can take), each with its direct children.
 */
export function parseIomem(text: string): { entries: IomemEntry[]; addressesHidden: boolean } {
  const entries: IomemEntry[] = [];
  let open: IomemEntry | null = null;
  let sawNonZero = false;
  let lines = 0;
  for (const line of text.split('\n')) {
    const m = /^( *)([0-9a-fA-F]+)-([0-9a-fA-F]+) : (.*)$/.exec(line);
    if (!m) continue;
    lines++;
    const depth = Math.floor((m[1] as string).length / 2);
    const start = m[2] as string;
    const end = m[3] as string;
    const name = m[4] as string;
    if (!sawNonZero && (/[^0]/.test(start) || /[^0]/.test(end))) sawNonZero = true;
    if (open !== null && depth <= open.depth) open = null;
    if (open !== null && depth === open.depth + 1) open.children.push(name);
    if (IOMEM_INTERESTING.has(name)) {
      open = { start: `0x${start}`, end: `0x${end}`, name, depth, children: [] };
      entries.push(open);
    }
  }
  return { entries, addressesHidden: lines > 0 && !sawNonZero };
}

// ---- I/O ---------------------------------------------------------------------------------------

class AttrReader {
  readonly unreadable: string[] = [];

  /** Trimmed content, or null if absent (ENOENT: not this kernel's attribute) or unreadable. */
  async read(file: string): Promise<string | null> {
    try {
      return (await readFile(file, 'utf8')).trim();
    } catch (err) {
      const code = errnoOf(err);
      // ENXIO/EINVAL/EOPNOTSUPP: attributes some drivers refuse to show; not worth reporting.
      if (code !== 'ENOENT' && code !== 'ENXIO' && code !== 'EINVAL' && code !== 'EOPNOTSUPP') {
        this.unreadable.push(`${file}: ${code}`);
      }
      return null;
    }
  }
}

async function list(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await readdir(p);
    return true;
  } catch {
    return false;
  }
}

/** Directory a /sys/bus/<bus>/devices/<name> symlink points to (the device's real sysfs dir). */
async function deviceDir(busDevices: string, name: string): Promise<string> {
  const link = path.join(busDevices, name);
  try {
    return await realpath(link);
  } catch {
    return link;
  }
}

async function driverOf(dir: string): Promise<string | null> {
  try {
    return path.basename(await readlink(path.join(dir, 'driver')));
  } catch {
    return null;
  }
}

const DAX_DEVICE = /^dax\d+\.\d+$/;

/** device-dax devices below an nd dax claim: <claim>/daxX.Y, or <claim>/dax/daxX.Y on old kernels. */
async function daxChildren(claimDir: string): Promise<string[]> {
  const direct = (await list(claimDir)).filter((n) => DAX_DEVICE.test(n));
  const legacy = (await list(path.join(claimDir, 'dax'))).filter((n) => DAX_DEVICE.test(n));
  return [...new Set([...direct, ...legacy])].sort();
}

async function readIomem(procRoot: string): Promise<IomemRead> {
  const file = path.join(procRoot, 'iomem');
  try {
    const { entries, addressesHidden } = parseIomem(await readFile(file, 'utf8'));
    return { readable: true, addressesHidden, entries };
  } catch (err) {
    return { readable: false, addressesHidden: true, entries: [], reason: `${file}: ${errnoOf(err)}` };
  }
}

/** Read the whole inventory. Never throws; a missing bus is simply empty. */
export async function readPmemInventory(roots: PmemRoots = {}): Promise<PmemInventory> {
  const sysRoot = roots.sysRoot ?? '/sys';
  const procRoot = roots.procRoot ?? '/proc';
  const devRoot = roots.devRoot ?? '/dev';
  const attrs = new AttrReader();
  const ndDevices = path.join(sysRoot, 'bus', 'nd', 'devices');
  const daxDevicesDir = path.join(sysRoot, 'bus', 'dax', 'devices');

  const [ndBus, daxBus, ndNames, daxNames, classDax, devNames, iomem] = await Promise.all([
    exists(path.join(sysRoot, 'bus', 'nd')),
    exists(path.join(sysRoot, 'bus', 'dax')),
    list(ndDevices),
    list(daxDevicesDir),
    list(path.join(sysRoot, 'class', 'dax')),
    list(devRoot),
    readIomem(procRoot),
  ]);

  const regions: NdRegion[] = await Promise.all(
    ndNames
      .filter((n) => /^region\d+$/.test(n))
      .map(async (name) => {
        const dir = await deviceDir(ndDevices, name);
        const [size, resource, nstype, domain] = await Promise.all([
          attrs.read(path.join(dir, 'size')),
          attrs.read(path.join(dir, 'resource')),
          attrs.read(path.join(dir, 'nstype')),
          attrs.read(path.join(dir, 'persistence_domain')),
        ]);
        return {
          name,
          size: parseIntOrNull(size),
          resource,
          nstype: parseIntOrNull(nstype),
          persistenceDomain: domain === '' ? null : domain,
        };
      }),
  );

  const namespaces: NdNamespace[] = [];
  await Promise.all(
    ndNames
      .filter((n) => /^namespace\d+\.\d+$/.test(n))
      .map(async (name) => {
        const dir = await deviceDir(ndDevices, name);
        const [sizeText, resource, sysfsMode, holderText] = await Promise.all([
          attrs.read(path.join(dir, 'size')),
          attrs.read(path.join(dir, 'resource')),
          attrs.read(path.join(dir, 'mode')),
          attrs.read(path.join(dir, 'holder')),
        ]);
        const size = parseIntOrNull(sizeText);
        if (size === 0) return; // an idle seed namespace, not storage
        const holder = holderText === null || holderText === '' ? null : holderText;
        const mode = namespaceMode(sysfsMode);
        const blockDevices = new Set(await list(path.join(dir, 'block')));
        const daxDevs: string[] = [];
        let memmap: NdNamespace['memmap'] = null;
        let align: number | null = null;
        if (holder !== null) {
          const claimDir = await deviceDir(ndDevices, holder);
          for (const b of await list(path.join(claimDir, 'block'))) blockDevices.add(b);
          daxDevs.push(...(await daxChildren(claimDir)));
          const [claimMode, claimAlign] = await Promise.all([
            attrs.read(path.join(claimDir, 'mode')),
            attrs.read(path.join(claimDir, 'align')),
          ]);
          // pfn/dax claim `mode`: "pmem" = memmap on the device, "ram" = in system RAM.
          memmap = claimMode === 'pmem' ? 'dev' : claimMode === 'ram' ? 'mem' : null;
          align = parseIntOrNull(claimAlign);
        }
        namespaces.push({
          name,
          region: path.basename(path.dirname(dir)).startsWith('region')
            ? path.basename(path.dirname(dir))
            : null,
          sysfsMode,
          mode,
          size,
          resource,
          holder,
          memmap,
          align,
          structPages: mode === 'fsdax' || mode === 'devdax',
          blockDevices: [...blockDevices].sort(),
          daxDevices: daxDevs,
        });
      }),
  );
  namespaces.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));

  const daxDevices: DaxDevice[] = await Promise.all(
    daxNames
      .filter((n) => DAX_DEVICE.test(n))
      .map(async (name) => {
        const dir = await deviceDir(daxDevicesDir, name);
        const [size, resource, align, node, driver] = await Promise.all([
          attrs.read(path.join(dir, 'size')),
          attrs.read(path.join(dir, 'resource')),
          attrs.read(path.join(dir, 'align')),
          attrs.read(path.join(dir, 'target_node')),
          driverOf(dir),
        ]);
        return {
          name,
          size: parseIntOrNull(size),
          resource,
          align: parseIntOrNull(align),
          targetNode: parseIntOrNull(node),
          driver,
        };
      }),
  );

  const zoneDevice: ZoneDeviceCandidate[] = [];
  for (const ns of namespaces) {
    if (ns.mode === 'fsdax') {
      zoneDevice.push({ device: ns.name, memoryType: 'fs_dax', resource: ns.resource, size: ns.size });
    }
  }
  for (const d of daxDevices) {
    // kmem-bound dax devices are hot-plugged as normal memory, not a ZONE_DEVICE pgmap.
    if (d.driver === 'device_dax') {
      zoneDevice.push({ device: d.name, memoryType: 'generic', resource: d.resource, size: d.size });
    }
  }

  return {
    ndBus,
    daxBus,
    regions,
    namespaces,
    daxDevices,
    classDax,
    devNodes: devNames
      .filter((n) => /^pmem\d/.test(n) || DAX_DEVICE.test(n))
      .map((n) => path.join(devRoot, n)),
    iomem,
    zoneDevice,
    unreadable: attrs.unreadable.sort(),
  };
}

/** Any persistent memory or device-dax at all? */
export function hasPmem(inv: PmemInventory): boolean {
  return (
    inv.namespaces.length > 0 ||
    inv.daxDevices.length > 0 ||
    inv.devNodes.length > 0 ||
    inv.iomem.entries.some((e) => e.name.startsWith('Persistent Memory'))
  );
}
