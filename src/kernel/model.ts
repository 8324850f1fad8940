/**
 * Which ZONE_DEVICE refcount model the running kernel follows (docs/kernel-model.md §6):
 *   old (≤6.14): FS DAX pages idle at refcount 1, mapped as pte_devmap without refcount/mapcount;
 *   new (≥6.15, "fs/dax: Fix ZONE_DEVICE page reference counts"): idle at 0, mapping takes a
 *   reference and a mapcount.
 *
 * Order of evidence, strongest first, because distributions backport and the version alone lies:
 *   1. kallsyms: functions that exist only in one model;
 *   2. BTF: where the pgmap pointer lives (`folio->pgmap` new, `page->pgmap` old);
 *   3. the release number (≥6.15 → new), a heuristic.
 * An explicit `--model old|new` wins over all of them; the detected answer is still recorded.
 */
import type { RefcountModel } from '../events/types.js';
import type { BtfModelFacts } from './btf.js';
import { KernelReadError } from './errors.js';
import type { ModelVerdict } from './facts.js';
import { findFunction } from './kallsyms.js';
import { formatKernelVersion, parseKernelVersion, versionAtLeast } from './release.js';

/**
 * Present only in the new model (K618: all T; absent from S612/S614 source): the page-based PTE
 * insert and the folio PMD insert that replaced the pfn_t/devmap ones, and the new layout-break
 * and range-removal helpers of fs/dax.c.
 */
export const NEW_MODEL_SYMBOLS = [
  'vmf_insert_page_mkwrite',
  'vmf_insert_folio_pmd',
  'dax_break_layout',
  'dax_break_layout_final',
  'dax_delete_mapping_range',
] as const;

/**
 * Present only in the old model: the 1-based FS DAX put (6.12/6.14 folio, 6.1 page variant) and
 * the devmap GUP path. Matched by exact name (or compiler clone), never by substring: the XDP
 * `xdp_devmap_*` symbols contain "devmap" in both models.
 */
export const OLD_MODEL_SYMBOLS = [
  '__put_devmap_managed_folio_refs',
  '__put_devmap_managed_page_refs',
  'follow_devmap_pmd',
] as const;

/** First release with the new model (v9 series merged for 6.15; the exact release is [U] in the doc). */
export const NEW_MODEL_FIRST = { major: 6, minor: 15, patch: 0 } as const;

export interface ModelInputs {
  release: string;
  kallsyms: { readable: boolean; functions: ReadonlySet<string> } | null;
  btf: BtfModelFacts | null;
  /** `--model old|new`. */
  override?: RefcountModel | undefined;
}

interface SourceVerdict {
  model: RefcountModel | null;
  evidence: string[];
}

function present(functions: ReadonlySet<string>, names: readonly string[]): string[] {
  const out: string[] = [];
  for (const name of names) {
    const p = findFunction(functions, name);
    if (p.exact) out.push(name);
    else if (p.clones.length > 0) out.push(`${name} (as ${p.clones.join(', ')})`);
  }
  return out;
}

/** Step 1. Pure. */
export function modelFromKallsyms(k: ModelInputs['kallsyms']): SourceVerdict {
  if (k === null || !k.readable) return { model: null, evidence: ['kallsyms unreadable'] };
  const newer = present(k.functions, NEW_MODEL_SYMBOLS);
  const older = present(k.functions, OLD_MODEL_SYMBOLS);
  if (newer.length > 0 && older.length === 0) {
    return { model: 'new', evidence: [`kallsyms has ${newer.join(', ')}`] };
  }
  if (older.length > 0 && newer.length === 0) {
    return { model: 'old', evidence: [`kallsyms has ${older.join(', ')}`] };
  }
  if (newer.length > 0) {
    return {
      model: null,
      evidence: [
        `kallsyms has markers of both models (new: ${newer.join(', ')}; old: ${older.join(', ')}): not decisive`,
      ],
    };
  }
  return {
    model: null,
    evidence: [
      `kallsyms has none of ${[...NEW_MODEL_SYMBOLS, ...OLD_MODEL_SYMBOLS].join(', ')} (CONFIG_FS_DAX=n?): not decisive`,
    ],
  };
}

/** Step 2. Pure. The sub-generation facts are recorded as evidence but do not decide. */
export function modelFromBtf(btf: BtfModelFacts | null): SourceVerdict {
  if (btf === null) return { model: null, evidence: ['BTF unavailable'] };
  const evidence: string[] = [];
  let model: RefcountModel | null = null;
  if (btf.folioHasPgmap && !btf.pageHasPgmap) {
    model = 'new';
    evidence.push('BTF: struct folio has member pgmap');
  } else if (btf.pageHasPgmap && !btf.folioHasPgmap) {
    model = 'old';
    evidence.push('BTF: struct page has member pgmap');
  } else if (btf.pageHasPgmap) {
    evidence.push('BTF: both struct page and struct folio have member pgmap: not decisive');
  } else {
    evidence.push(
      btf.folioExists
        ? 'BTF: neither struct page nor struct folio has member pgmap: not decisive'
        : 'BTF: no struct folio (pre-5.16 kernel?): not decisive',
    );
  }
  const sub: string[] = [];
  sub.push(btf.memdescFlagsT ? 'memdesc_flags_t exists' : 'no memdesc_flags_t');
  if (btf.getDevPagemapParams !== null) {
    sub.push(
      `get_dev_pagemap takes ${btf.getDevPagemapParams} parameter${btf.getDevPagemapParams === 1 ? '' : 's'}`,
    );
  } else {
    sub.push('no BTF FUNC get_dev_pagemap');
  }
  if (btf.folioNrPagesField !== null) sub.push(`struct folio has ${btf.folioNrPagesField}`);
  evidence.push(`BTF: ${sub.join(', ')}`);
  return { model, evidence };
}

/** Step 3 (heuristic). Pure. Always answers; an unparseable release assumes the current model. */
export function modelFromRelease(release: string): { model: RefcountModel; evidence: string } {
  const v = parseKernelVersion(release);
  const first = `${NEW_MODEL_FIRST.major}.${NEW_MODEL_FIRST.minor}`;
  if (v === null) {
    return {
      model: 'new',
      evidence: `release "${release}" has no version number; assuming new (pass --model old if this kernel predates ${first})`,
    };
  }
  const isNew = versionAtLeast(v, NEW_MODEL_FIRST.major, NEW_MODEL_FIRST.minor);
  return {
    model: isNew ? 'new' : 'old',
    evidence: `release ${formatKernelVersion(v)} ${isNew ? '≥' : '<'} ${first}`,
  };
}

function agreement(label: string, model: RefcountModel | null, verdict: RefcountModel): string | null {
  if (model === null) return null;
  return model === verdict
    ? `${label} agrees`
    : `${label} says ${model}: DISAGREES (a backport, or a kernel daxmon does not know?)`;
}

/** The verdict, with the evidence behind it and what the weaker sources said. Pure. */
export function decideModel(inputs: ModelInputs): ModelVerdict {
  const k = modelFromKallsyms(inputs.kallsyms);
  const b = modelFromBtf(inputs.btf);
  const r = modelFromRelease(inputs.release);

  let detected: ModelVerdict;
  if (k.model !== null) {
    const evidence = [...k.evidence, ...b.evidence];
    const bAgree = agreement('BTF', b.model, k.model);
    if (bAgree) evidence.push(bAgree);
    evidence.push(`${r.evidence} (${r.model === k.model ? 'agrees' : `says ${r.model}: DISAGREES`})`);
    detected = { model: k.model, source: 'kallsyms', evidence };
  } else if (b.model !== null) {
    const evidence = [...b.evidence, ...k.evidence];
    evidence.push(`${r.evidence} (${r.model === b.model ? 'agrees' : `says ${r.model}: DISAGREES`})`);
    detected = { model: b.model, source: 'btf', evidence };
  } else {
    detected = {
      model: r.model,
      source: 'release',
      evidence: [
        `${r.evidence} (heuristic: kallsyms and BTF were not decisive)`,
        ...k.evidence,
        ...b.evidence,
      ],
    };
  }

  if (inputs.override === undefined) return detected;
  return {
    model: inputs.override,
    source: 'override',
    evidence: [
      `--model ${inputs.override} given`,
      `detection would say ${detected.model} (from ${detected.source})${
        detected.model === inputs.override ? '' : ': DISAGREES with the override'
      }`,
      ...detected.evidence,
    ],
  };
}

/** Validate a `--model` argument. */
export function parseModelOverride(value: string): RefcountModel {
  if (value === 'old' || value === 'new') return value;
  throw new KernelReadError(
    'DAXMON_E_MODEL_OVERRIDE_INVALID',
    `--model must be "old" (FS DAX idle at refcount 1, kernels ≤6.14) or "new" (idle at 0, ≥6.15), not "${value}"`,
  );
}
