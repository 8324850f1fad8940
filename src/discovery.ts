/**
 * pgmaps that existed before daxmon started fire no registration hook, so daxmon learns them
 * from sysfs (fsdax namespaces → FS_DAX, device-dax instances → GENERIC) and announces them as
 * `pgmap_registered` events with `source: "discovered"`. Their kernel key is learnt later, when a
 * hook names the pgmap with a matching range (PgmapRegistry.resolve / register).
 */
import type { PgmapRegistered } from './events/types.js';
import type { PmemInventory } from './kernel/pmem.js';

const PAGE_SHIFT = 12;

export interface Discovery {
  events: PgmapRegistered[];
  /** Candidates whose range could not be read (non-root sees no resource), with the reason. */
  skipped: { device: string; reason: string }[];
}

export function discoverPgmaps(inv: PmemInventory | undefined, t: number, pid: number): Discovery {
  const events: PgmapRegistered[] = [];
  const skipped: Discovery['skipped'] = [];
  for (const c of inv?.zoneDevice ?? []) {
    const start = c.resource === null ? NaN : Number.parseInt(c.resource, 16);
    if (!Number.isFinite(start) || start === 0 || c.size === null || c.size <= 0) {
      skipped.push({ device: c.device, reason: 'resource/size unreadable (daxmon needs root to read them)' });
      continue;
    }
    events.push({
      type: 'pgmap_registered',
      t,
      pid,
      comm: 'daxmon',
      pgmap: `sysfs:${c.device}`,
      pgmapType: c.memoryType,
      ranges: [{ pfn: Math.floor(start / 2 ** PAGE_SHIFT), nrPages: Math.floor(c.size / 2 ** PAGE_SHIFT) }],
      vmemmapShift: 0,
      hasPageFree: false,
      altmap: false,
      device: c.device,
      source: 'discovered',
    });
  }
  return { events, skipped };
}
