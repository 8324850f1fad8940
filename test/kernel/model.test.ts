import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { btfModelFacts } from '../../src/kernel/btf.js';
import type { BtfModelFacts } from '../../src/kernel/btf.js';
import { KernelReadError } from '../../src/kernel/errors.js';
import { parseKallsyms } from '../../src/kernel/kallsyms.js';
import { decideModel, modelFromRelease, parseModelOverride } from '../../src/kernel/model.js';
import { modelBtf } from './helpers/btf-encoder.js';
import { fixture } from './helpers/fixtures.js';

function kallsymsOf(host: string) {
  return {
    readable: true,
    functions: parseKallsyms(readFileSync(fixture(host, 'proc', 'kallsyms'), 'latin1')).functions,
  };
}
function syms(...names: string[]) {
  return { readable: true, functions: new Set(names) };
}
const NEW_BTF: BtfModelFacts = btfModelFacts(modelBtf('new'));
const OLD_BTF: BtfModelFacts = btfModelFacts(modelBtf('old'));
const UNREADABLE = { readable: false, functions: new Set<string>() };

describe('refcount model: kallsyms first (docs/kernel-model.md §6 step 1)', () => {
  it('a 7.3 kernel with vmf_insert_page_mkwrite and dax_break_layout is new', () => {
    const v = decideModel({ release: '7.3.4+deb13-amd64', kallsyms: kallsymsOf('new-7.3'), btf: null });
    expect(v.model).toBe('new');
    expect(v.source).toBe('kallsyms');
    expect(v.evidence[0]).toMatch(
      /^kallsyms has vmf_insert_page_mkwrite, vmf_insert_folio_pmd, dax_break_layout/,
    );
  });

  it('this restricted 6.18 host is new', () => {
    const v = decideModel({ release: '6.18.44-fc-v669', kallsyms: kallsymsOf('host-6.18'), btf: NEW_BTF });
    expect(v).toMatchObject({ model: 'new', source: 'kallsyms' });
    expect(v.evidence).toContain('BTF agrees');
    expect(v.evidence).toContain('release 6.18.44 ≥ 6.15 (agrees)');
  });

  it('6.12 with __put_devmap_managed_folio_refs and follow_devmap_pmd is old', () => {
    const v = decideModel({ release: '6.12.117+deb13-amd64', kallsyms: kallsymsOf('old-6.12'), btf: null });
    expect(v).toMatchObject({ model: 'old', source: 'kallsyms' });
    expect(v.evidence[0]).toBe('kallsyms has __put_devmap_managed_folio_refs, follow_devmap_pmd');
  });

  it('6.1 with __put_devmap_managed_page_refs is old', () => {
    const v = decideModel({ release: '6.1.0-27-amd64', kallsyms: kallsymsOf('old-6.1'), btf: null });
    expect(v).toMatchObject({ model: 'old', source: 'kallsyms' });
    expect(v.evidence[0]).toMatch(/__put_devmap_managed_page_refs/);
  });

  it('XDP devmap symbols ("devmap" as a substring) say nothing about the model', () => {
    const v = decideModel({
      release: '6.18.0',
      kallsyms: syms('__traceiter_xdp_devmap_xmit', 'dev_map_enqueue', 'xdp_devmap_xmit'),
      btf: null,
    });
    expect(v.source).toBe('release');
    expect(v.model).toBe('new');
  });

  it('a marker present only as a compiler clone still counts', () => {
    const v = decideModel({ release: '6.12.0', kallsyms: syms('follow_devmap_pmd.isra.0'), btf: null });
    expect(v).toMatchObject({ model: 'old', source: 'kallsyms' });
    expect(v.evidence[0]).toBe('kallsyms has follow_devmap_pmd (as follow_devmap_pmd.isra.0)');
  });

  it('a backport wins over the release number, and the disagreement is recorded', () => {
    const v = decideModel({
      release: '6.12.50-vendor',
      kallsyms: syms('vmf_insert_page_mkwrite'),
      btf: OLD_BTF,
    });
    expect(v.model).toBe('new');
    expect(v.evidence.some((e) => e.startsWith('BTF says old: DISAGREES'))).toBe(true);
    expect(v.evidence.some((e) => /release 6\.12\.50 < 6\.15 \(says old: DISAGREES\)/.test(e))).toBe(true);
  });

  it('markers of both models are not decisive: BTF decides', () => {
    const v = decideModel({
      release: '6.14.0',
      kallsyms: syms('vmf_insert_page_mkwrite', '__put_devmap_managed_folio_refs'),
      btf: NEW_BTF,
    });
    expect(v).toMatchObject({ model: 'new', source: 'btf' });
    expect(v.evidence.some((e) => e.includes('markers of both models'))).toBe(true);
  });
});

describe('refcount model: BTF second (step 2)', () => {
  it('struct folio has pgmap → new', () => {
    const v = decideModel({ release: '6.14.0', kallsyms: UNREADABLE, btf: NEW_BTF });
    expect(v).toMatchObject({ model: 'new', source: 'btf' });
    expect(v.evidence).toContain('BTF: struct folio has member pgmap');
    expect(v.evidence).toContain(
      'BTF: memdesc_flags_t exists, get_dev_pagemap takes 1 parameter, struct folio has _nr_pages',
    );
  });

  it('struct page has pgmap → old', () => {
    const v = decideModel({ release: '6.18.0', kallsyms: syms(), btf: OLD_BTF });
    expect(v).toMatchObject({ model: 'old', source: 'btf' });
    expect(v.evidence).toContain(
      'BTF: no memdesc_flags_t, get_dev_pagemap takes 2 parameters, struct folio has _folio_nr_pages',
    );
  });
});

describe('refcount model: release last (step 3, heuristic)', () => {
  it.each([
    ['6.14.11', 'old'],
    ['6.15.0', 'new'],
    ['6.15-rc1', 'new'],
    ['7.3.4+deb13-amd64', 'new'],
    ['5.15.0-100-generic', 'old'],
  ] as const)('%s → %s', (release, model) => {
    const v = decideModel({ release, kallsyms: UNREADABLE, btf: null });
    expect(v).toMatchObject({ model, source: 'release' });
    expect(v.evidence[0]).toMatch(/heuristic/);
  });

  it('an unparseable release assumes new and says how to override', () => {
    expect(modelFromRelease('my-kernel')).toMatchObject({ model: 'new' });
    expect(modelFromRelease('my-kernel').evidence).toMatch(/--model old/);
  });
});

describe('--model override', () => {
  it('wins, and keeps what detection said', () => {
    const v = decideModel({ release: '7.3.4', kallsyms: kallsymsOf('new-7.3'), btf: null, override: 'old' });
    expect(v.model).toBe('old');
    expect(v.source).toBe('override');
    expect(v.evidence[0]).toBe('--model old given');
    expect(v.evidence[1]).toBe('detection would say new (from kallsyms): DISAGREES with the override');
  });

  it('accepts only old|new, with a stable code', () => {
    expect(parseModelOverride('old')).toBe('old');
    expect(parseModelOverride('new')).toBe('new');
    expect(() => parseModelOverride('6.15')).toThrow(KernelReadError);
    try {
      parseModelOverride('x');
    } catch (err) {
      expect((err as KernelReadError).code).toBe('DAXMON_E_MODEL_OVERRIDE_INVALID');
    }
  });
});
