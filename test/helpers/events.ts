/**
 * Builders for synthetic events: a kernel developer's vocabulary for writing a scenario as a
 * sequence of what the probes would report. Times advance by 1 µs per event unless set.
 */
import type { DaxEvent, EventOf, MapVia, MemoryType, RefcountModel } from '../../src/events/types.js';
import { PROBE_NAMES, type ProbeName } from '../../src/probes/catalogue.js';

export const PMEM_PFN = 0x140000; // 5 GiB, where memmap=1G!5G puts the VM lab's pmem
export const PMEM_PAGES = 262144; // 1 GiB
export const PGMAP = '0xffff888100a00000';
export const DEV = (259 << 20) | 0; // pmem0
export const INO = 12;

export class Stream {
  t = 1_000_000_000;
  readonly events: DaxEvent[] = [];
  /** More header fields (a live daemon's recording: clock, confirms, checkConfig). */
  headerExtra: Record<string, unknown> = {};
  constructor(
    readonly model: RefcountModel,
    readonly comm = 'writer',
    readonly pid = 4242,
  ) {}

  private base() {
    this.t += 1000;
    return { t: this.t, pid: this.pid, comm: this.comm };
  }

  /** Let stream time pass (seconds). */
  wait(seconds: number): this {
    this.t += seconds * 1e9;
    return this;
  }

  push<T extends DaxEvent['type']>(type: T, fields: Omit<EventOf<T>, 'type' | 't' | 'pid' | 'comm'>): this {
    this.events.push({ ...this.base(), type, ...fields } as unknown as DaxEvent);
    return this;
  }

  /** probe_status for each name (catalogue names only: a typo would not attach what the test means). */
  probes(names: readonly ProbeName[], backend: 'libbpf' | 'bpftrace' = 'libbpf', attached = true): this {
    for (const probe of names)
      this.push('probe_status', { backend, probe, attached, detail: `test:${probe}` });
    return this;
  }

  pgmap(type: MemoryType = 'fs_dax', pfn = PMEM_PFN, nrPages = PMEM_PAGES, key = PGMAP): this {
    return this.push('pgmap_registered', {
      pgmap: key,
      pgmapType: type,
      ranges: [{ pfn, nrPages }],
      vmemmapShift: 0,
      hasPageFree: type === 'private' || type === 'coherent' || type === 'pci_p2pdma',
      altmap: false,
      device: 'namespace0.0',
      source: 'hook',
    });
  }

  insert(pfn: number, index = pfn - PMEM_PFN, order = 0): this {
    return this.push('dax_entry_insert', {
      pfn,
      order,
      dev: DEV,
      ino: INO,
      index,
      zero: false,
      empty: false,
      shared: false,
    });
  }

  map(pfn: number, refcount: number, mapcount: number, via?: MapVia, order = 0): this {
    const v = via ?? (this.model === 'new' ? 'vmf_insert_page_mkwrite' : 'vmf_insert_mixed_mkwrite');
    return this.push('folio_map', { pfn, order, via: v, write: true, ret: 0x100, refcount, mapcount });
  }

  unmap(pfn: number, refcount: number, mapcount: number, nr = 1, order = 0): this {
    return this.push('folio_unmap', { pfn, order, nr, refcount, mapcount });
  }

  free(pfn: number, refcount = 0, mapcount = 0, order = 0): this {
    return this.push('zone_device_free', { pfn, order, refcount, mapcount, pageFreeCalled: null });
  }

  remove(pfn: number, refcount: number, mapcount = 0, index = pfn - PMEM_PFN): this {
    return this.push('dax_entry_remove', {
      pfn,
      order: 0,
      dev: DEV,
      ino: INO,
      index,
      trunc: true,
      refcount,
      mapcount,
    });
  }

  put(pfn: number, refcountBefore: number, refs = 1): this {
    return this.push('folio_put', { pfn, order: 0, refs, refcount: refcountBefore });
  }

  gup(
    op: 'get' | 'pin' | 'put' | 'unpin',
    pfn: number,
    refcountAfter: number,
    flags = op === 'pin' ? 1 << 19 : 2,
    refs = 1,
  ): this {
    return this.push('gup', {
      op,
      pfn,
      order: 0,
      refs,
      flags,
      result: 0,
      refcount: refcountAfter,
      pincount: 0,
    });
  }

  /** A whole healthy lifecycle of one 4 KiB page: fault, map, unmap, (free), truncate. */
  healthyPage(pfn: number): this {
    this.push('dax_fault', {
      dev: DEV,
      ino: INO,
      pgoff: pfn - PMEM_PFN,
      pmd: false,
      write: true,
      result: 0x100,
    });
    this.insert(pfn);
    if (this.model === 'new') {
      this.map(pfn, 1, 1);
      this.unmap(pfn, 1, 1);
      this.free(pfn);
      this.remove(pfn, 0, 0);
    } else {
      this.map(pfn, 1, 0);
      this.remove(pfn, 1, 0);
    }
    return this;
  }

  /** A page pinned (GUP get, as vmsplice does) while mapped, then released after unmap. */
  pinnedPage(pfn: number, holdSeconds: number): this {
    this.insert(pfn);
    if (this.model === 'new') {
      this.map(pfn, 1, 1);
      this.gup('get', pfn, 2);
      this.unmap(pfn, 2, 1);
      this.wait(holdSeconds);
      this.free(pfn); // the pipe's put was the last reference
    } else {
      this.map(pfn, 1, 0);
      this.gup('get', pfn, 2);
      this.wait(holdSeconds);
      this.put(pfn, 2);
    }
    return this.remove(pfn, this.model === 'new' ? 0 : 1, 0);
  }

  header(release = this.model === 'new' ? '7.3.4+deb13-amd64' : '6.12.117+deb13-amd64'): string {
    return (
      JSON.stringify({
        daxmon: 'events',
        schema: 1,
        created: '2026-11-25T00:00:00.000Z',
        kernel: { release, model: this.model },
        ...this.headerExtra,
      }) + '\n'
    );
  }

  ndjson(): string {
    return this.header() + this.events.map((e) => JSON.stringify(e)).join('\n') + '\n';
  }
}

/** Every probe and capability (src/probes/catalogue.ts). */
export const ALL_PROBES: readonly ProbeName[] = PROBE_NAMES;
