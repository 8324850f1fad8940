import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  KallsymsParser,
  findFunction,
  hasFunctionOrClone,
  parseKallsyms,
  readKallsyms,
} from '../../src/kernel/kallsyms.js';
import { fixture } from './helpers/fixtures.js';

const NEW_73 = readFileSync(fixture('new-7.3', 'proc', 'kallsyms'), 'latin1');
const HOST_618 = readFileSync(fixture('host-6.18', 'proc', 'kallsyms'), 'latin1');

describe('kallsyms parsing', () => {
  it('keeps function names (T/t/W), module ones without the [module] suffix', () => {
    const r = parseKallsyms(NEW_73);
    expect(r.functions.has('vmf_insert_page_mkwrite')).toBe(true);
    expect(r.functions.has('dev_pagemap_percpu_release')).toBe(true); // static: t
    expect(r.functions.has('page_is_ram')).toBe(true); // weak: W
    expect(r.functions.has('pmem_attach_disk')).toBe(true); // [nd_pmem]
    expect(r.functions.has('xfs_break_dax_layouts')).toBe(true); // [xfs]
    expect([...r.modules].sort()).toEqual(['device_dax', 'ext4', 'libnvdimm', 'nd_pmem', 'xfs']);
  });

  it('drops data symbols, __pfx_ padding labels, JITed BPF programs and ftrace trampolines', () => {
    const r = parseKallsyms(NEW_73);
    expect(r.functions.has('vmemmap_base')).toBe(false); // D
    expect(r.functions.has('__pfx_vmf_insert_page_mkwrite')).toBe(false);
    expect([...r.functions].some((f) => f.startsWith('bpf_prog_'))).toBe(false);
    expect(r.functions.has('ftrace_trampoline')).toBe(false);
  });

  it('never keeps an address', () => {
    const r = parseKallsyms(NEW_73);
    const dump = JSON.stringify([...r.functions, ...r.modules]);
    expect(dump).not.toMatch(/ffffffff|[0-9a-f]{16}/);
    expect(Object.keys(r).sort()).toEqual(['addressesHidden', 'functions', 'lines', 'modules']);
  });

  it('notices when addresses are hidden (zeros: kptr_restrict or not root)', () => {
    expect(parseKallsyms(HOST_618).addressesHidden).toBe(true);
    expect(parseKallsyms(NEW_73).addressesHidden).toBe(false);
  });

  it('gives the same result however the stream is chunked', () => {
    const whole = parseKallsyms(NEW_73);
    for (const size of [1, 2, 3, 7, 64, 1000]) {
      const p = new KallsymsParser();
      for (let i = 0; i < NEW_73.length; i += size) p.push(NEW_73.slice(i, i + size));
      const r = p.end();
      expect([...r.functions].sort()).toEqual([...whole.functions].sort());
      expect(r.lines).toBe(whole.lines);
    }
  });

  it('handles a last line without newline and CRLF line ends', () => {
    const r = parseKallsyms('0000000000000000 T a_fn\r\n0000000000000000 t b_fn\t[mod]');
    expect([...r.functions].sort()).toEqual(['a_fn', 'b_fn']);
    expect([...r.modules]).toEqual(['mod']);
  });

  it('parses a whole-file string in linear time (no rescans to the next tab)', () => {
    const lines: string[] = [];
    for (let i = 0; i < 200_000; i++) lines.push(`0000000000000000 t fn_${i}`);
    lines.push('0000000000000000 t last\t[mod]');
    const t0 = performance.now();
    const r = parseKallsyms(lines.join('\n'));
    expect(r.functions.size).toBe(200_001);
    expect(performance.now() - t0).toBeLessThan(3_000);
  });
});

describe('function presence with compiler clones', () => {
  const fns = parseKallsyms(
    `${NEW_73}\n0000000000000000 t foo.constprop.0.isra.0\n0000000000000000 t bar.part.0\n`,
  ).functions;

  it('reports an exact name as attachable by name', () => {
    expect(findFunction(fns, 'free_zone_device_folio')).toEqual({ exact: true, clones: [], fragments: [] });
  });

  it('reports .isra/.constprop clones as kprobe-only (dax_folio_put exists only as .isra.0)', () => {
    expect(findFunction(fns, 'dax_folio_put')).toEqual({
      exact: false,
      clones: ['dax_folio_put.isra.0'],
      fragments: [],
    });
    expect(hasFunctionOrClone(fns, 'dax_folio_put')).toBe(true);
    expect(hasFunctionOrClone(fns, 'foo')).toBe(true);
    expect(hasFunctionOrClone(fns, 'dax_set_mapping')).toBe(true); // module clone
  });

  it('does not count .part/.cold fragments as the function', () => {
    expect(findFunction(fns, 'bar')).toEqual({ exact: false, clones: [], fragments: ['bar.part.0'] });
    expect(hasFunctionOrClone(fns, 'bar')).toBe(false);
    expect(hasFunctionOrClone(fns, 'dev_map_enqueue')).toBe(false);
  });

  it('does not match prefixes', () => {
    expect(hasFunctionOrClone(fns, 'dax_folio')).toBe(false);
    expect(hasFunctionOrClone(fns, 'vmf_insert_page')).toBe(false);
  });
});

describe('readKallsyms', () => {
  it('streams a fixture /proc', async () => {
    const r = await readKallsyms(fixture('old-6.12', 'proc'));
    expect(r.readable).toBe(true);
    if (r.readable) expect(r.functions.has('__put_devmap_managed_folio_refs')).toBe(true);
  });

  it('reports a missing file with a code and advice instead of throwing', async () => {
    const r = await readKallsyms(await mkdtemp(path.join(os.tmpdir(), 'daxmon-ks-')));
    expect(r.readable).toBe(false);
    if (!r.readable) expect(r.reason).toMatch(/^DAXMON_E_KALLSYMS_UNREADABLE: cannot read .*ENOENT/);
  });

  it('streams this host’s /proc/kallsyms', async () => {
    const r = await readKallsyms();
    expect(r.readable).toBe(true);
    if (r.readable) {
      expect(r.functions.size).toBeGreaterThan(10_000);
      expect(r.functions.has('schedule')).toBe(true);
    }
  });
});
