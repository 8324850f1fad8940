import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BTF_KIND, BtfReader, btfModelFacts, readBtf } from '../../src/kernel/btf.js';
import { KernelReadError } from '../../src/kernel/errors.js';
import { BtfBuilder, modelBtf } from './helpers/btf-encoder.js';

describe('BTF reader on synthetic blobs', () => {
  it('answers the new-model questions: folio->pgmap, memdesc_flags_t, _nr_pages, get_dev_pagemap(pfn)', () => {
    expect(btfModelFacts(modelBtf('new'))).toEqual({
      typeCount: expect.any(Number),
      folioExists: true,
      folioHasPgmap: true,
      pageHasPgmap: false,
      memdescFlagsT: true,
      folioNrPagesField: '_nr_pages',
      getDevPagemapParams: 1,
    });
  });

  it('answers the old-model questions: page->pgmap, no memdesc_flags_t, _folio_nr_pages, get_dev_pagemap(pfn, pgmap)', () => {
    expect(btfModelFacts(modelBtf('old'))).toMatchObject({
      folioHasPgmap: false,
      pageHasPgmap: true,
      memdescFlagsT: false,
      folioNrPagesField: '_folio_nr_pages',
      getDevPagemapParams: 2,
    });
  });

  it('walks every kind with trailing data (enum, enum64, array, var, datasec, decl_tag, …) to reach later types', () => {
    const noisy = btfModelFacts(modelBtf('new', { noise: true }));
    const plain = btfModelFacts(modelBtf('new'));
    expect(noisy.typeCount).toBeGreaterThan(plain.typeCount);
    expect({ ...noisy, typeCount: 0 }).toEqual({ ...plain, typeCount: 0 });
  });

  it('reads a big-endian blob', () => {
    expect(btfModelFacts(modelBtf('old', { bigEndian: true, noise: true })).pageHasPgmap).toBe(true);
  });

  it('honours a header longer than 24 bytes (newer kernels may grow it)', () => {
    const b = new BtfBuilder();
    b.struct('folio', 8, [{ name: 'pgmap', type: b.ptr(0) }]);
    expect(btfModelFacts(b.build({ hdrLen: 32 })).folioHasPgmap).toBe(true);
  });

  it('finds members through anonymous unions, structs and typedef/const wrappers only', () => {
    const r = new BtfReader(modelBtf('new'));
    const folio = r.findType(BTF_KIND.STRUCT, 'folio');
    expect(folio).toBeGreaterThan(0);
    expect(r.name(folio)).toBe('folio');
    expect(r.hasMember(folio, 'pgmap')).toBe(true);
    expect(r.hasMember(folio, '_nr_pages')).toBe(true);
    // `page` is a named member: its own members are not folio's.
    expect(r.hasMember(folio, '_mapcount')).toBe(false);
    expect(r.memberNames(r.findType(BTF_KIND.STRUCT, 'page'))).toEqual([
      'flags',
      'mapping',
      '_unused_pgmap_compound_head',
      'callback_head',
      '_mapcount',
      '_refcount',
    ]);
  });

  it('does not count a variadic `...` as a parameter and returns null for a missing FUNC', () => {
    const r = new BtfReader(modelBtf('new'));
    expect(r.funcParamCount('printk')).toBe(1);
    expect(r.funcParamCount('no_such_function')).toBeNull();
  });

  it('matches names exactly, not by prefix', () => {
    const b = new BtfBuilder();
    b.struct('folio_queue', 8, [{ name: 'pgmap', type: 0 }]);
    b.struct('foli', 8, [{ name: 'pgmap', type: 0 }]);
    const facts = btfModelFacts(b.build());
    expect(facts.folioExists).toBe(false);
    expect(facts.folioHasPgmap).toBe(false);
  });

  it('rejects malformed blobs with DAXMON_E_BTF_INVALID', () => {
    const good = modelBtf('new');
    const badMagic = good.slice();
    badMagic[0] = 0;
    const unknownKind = new BtfBuilder();
    unknownKind.int('int', 4);
    const blob = unknownKind.build();
    blob[24 + 7] = 30; // info's kind byte of type 1 → kind 30
    for (const bad of [new Uint8Array(10), badMagic, good.slice(0, good.length - 20), blob]) {
      expect(() => new BtfReader(bad)).toThrow(KernelReadError);
      try {
        new BtfReader(bad);
      } catch (err) {
        expect((err as KernelReadError).code).toBe('DAXMON_E_BTF_INVALID');
      }
    }
  });

  it('readBtf: a kernel without BTF is reported, not thrown', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'daxmon-btf-'));
    const r = await readBtf(root);
    expect(r.vmlinux).toBe(false);
    expect(r.facts).toBeNull();
    expect(r.reason).toMatch(/^DAXMON_E_BTF_MISSING: .*CONFIG_DEBUG_INFO_BTF/);
  });

  it('readBtf: reads a blob from a sysfs-shaped tree and reports a corrupt one', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'daxmon-btf-'));
    await mkdir(path.join(root, 'kernel', 'btf'), { recursive: true });
    await writeFile(path.join(root, 'kernel', 'btf', 'vmlinux'), modelBtf('old'));
    expect((await readBtf(root)).facts?.pageHasPgmap).toBe(true);
    await writeFile(path.join(root, 'kernel', 'btf', 'vmlinux'), Buffer.from('not btf at all, really'));
    const bad = await readBtf(root);
    expect(bad.vmlinux).toBe(true);
    expect(bad.facts).toBeNull();
    expect(bad.reason).toMatch(/^DAXMON_E_BTF_INVALID/);
  });
});

const HOST_BTF = '/sys/kernel/btf/vmlinux';

describe.skipIf(!existsSync(HOST_BTF))('BTF reader on this host', () => {
  it('reads the real vmlinux BTF quickly and finds the types every kernel has', () => {
    const buf = readFileSync(HOST_BTF);
    const t0 = performance.now();
    const r = new BtfReader(buf);
    expect(r.typeCount).toBeGreaterThan(10_000);
    expect(r.findType(BTF_KIND.STRUCT, 'task_struct')).toBeGreaterThan(0);
    expect(r.findType(BTF_KIND.FUNC, 'schedule')).toBeGreaterThan(0);
    expect(performance.now() - t0).toBeLessThan(2_000);
  });

  // The development machines run 6.18 (docs/kernel-model.md §0 K618). This asserts their truth on purpose:
  // on a ≤6.17 kernel it fails, and that failure means "not a development machine", not a bug.
  it('struct folio has pgmap, memdesc_flags_t exists, get_dev_pagemap takes 1 parameter (6.18 host)', () => {
    expect(btfModelFacts(readFileSync(HOST_BTF))).toMatchObject({
      folioExists: true,
      folioHasPgmap: true,
      pageHasPgmap: false,
      memdescFlagsT: true,
      folioNrPagesField: '_nr_pages',
      getDevPagemapParams: 1,
    });
  });
});
