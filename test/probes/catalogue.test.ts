import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { allChecks } from '../../src/checks/registry.js';
import { LAYOUT_BREAK_FNS, MAP_VIAS, type DaxEvent, type RefcountModel } from '../../src/events/types.js';
import type { KernelFacts } from '../../src/kernel/facts.js';
import { PACKAGE_ROOT } from '../../src/package-root.js';
import { BpftraceDecoder } from '../../src/probes/bpftrace/decode.js';
import { LINE_FIELDS, type LineTag } from '../../src/probes/bpftrace/format.js';
import { assembleScript, expandIncludes } from '../../src/probes/bpftrace/script.js';
import { loadSnippetLibrary, type Snippet } from '../../src/probes/bpftrace/snippet.js';
import {
  BPFTRACE_PROBE_NAMES,
  CAPABILITIES,
  catalogueEntry,
  DISCOVERY_EVENTS,
  HOOK_PROBES,
  hookProbe,
  isProbeName,
  LIBBPF_PROBE_NAMES,
  PROBE_NAMES,
  type HookProbeName,
} from '../../src/probes/catalogue.js';
import { LIBBPF_PROBES, planHooks, type LibbpfVia } from '../../src/probes/libbpf/plan.js';
import { bpfPrograms } from './bpf-programs.js';
import { facts61, facts612, facts73, factsDevHost } from './bpftrace-facts.js';

const ROOT = PACKAGE_ROOT;
const programs = bpfPrograms(readFileSync(path.join(ROOT, 'bpf/libbpf/daxmon.bpf.c'), 'utf8'));
const programByName = new Map(programs.map((p) => [p.name, p]));
const lib = loadSnippetLibrary(path.join(ROOT, 'bpf/bpftrace'));
const MODELS: readonly RefcountModel[] = ['old', 'new'];
const HOSTS: [string, () => KernelFacts][] = [
  ['7.3', facts73],
  ['6.12', facts612],
  ['6.1', facts61],
  ['dev host', factsDevHost],
];

/** A compiler clone (`.isra.0`) is the function it was cloned from. */
const baseName = (f: string): string => f.replace(/\.(isra|constprop|part|cold)\.\d+$/, '');

/** Every function and tracepoint the catalogue lists for a probe under the given models. */
function catalogueTargets(probe: HookProbeName, models: readonly RefcountModel[] = MODELS): Set<string> {
  const out = new Set<string>();
  for (const m of models)
    for (const h of hookProbe(probe).hooks[m]) {
      if (h.kind === 'tracepoint') out.add(h.name);
      else for (const n of h.names) out.add(n);
    }
  return out;
}

const realSnippets = (probe: string): Snippet[] =>
  lib.snippets.filter((s) => s.probe === probe && s.unavailable === null);
/** The models a snippet is written for, among those its probe applies to. */
const snippetModels = (s: Snippet, probe: HookProbeName): RefcountModel[] =>
  hookProbe(probe).models.filter((m) => s.model === 'any' || s.model === m);

describe('the probe catalogue', () => {
  it('names each probe once, hooks and capabilities apart', () => {
    expect(new Set(PROBE_NAMES).size).toBe(PROBE_NAMES.length);
    expect([...HOOK_PROBES, ...CAPABILITIES].sort()).toEqual([...PROBE_NAMES].sort());
    expect(CAPABILITIES).toEqual(['scan', 'page_free']);
    expect(isProbeName('zone_device_free')).toBe(true);
    expect(isProbeName('zone_device_fre')).toBe(false);
    expect(isProbeName('toString')).toBe(false);
  });

  it('gives every hook probe a backend, and hooks in each model it applies to (none elsewhere)', () => {
    for (const name of HOOK_PROBES) {
      const p = hookProbe(name);
      expect(p.backends.length, name).toBeGreaterThan(0);
      for (const m of MODELS) {
        if (p.models.includes(m)) expect(p.hooks[m].length, `${name} (${m})`).toBeGreaterThan(0);
        else expect(p.hooks[m], `${name} (${m})`).toEqual([]);
      }
    }
  });
});

describe('the libbpf backend implements exactly the catalogue probes it claims', () => {
  it('has a plan entry with hooks for every libbpf probe, in catalogue order', () => {
    expect(LIBBPF_PROBES.map((d) => d.probe)).toEqual([...LIBBPF_PROBE_NAMES]);
    for (const d of LIBBPF_PROBES) {
      expect(d.hooks.length, d.probe).toBeGreaterThan(0);
      expect(d.models).toEqual(hookProbe(d.probe).models);
    }
  });

  it('plans only hooks the catalogue lists for the probe', () => {
    for (const d of LIBBPF_PROBES) {
      const listed = catalogueTargets(d.probe);
      for (const h of d.hooks) expect(listed, `${d.probe}: ${h.target}`).toContain(h.target);
    }
  });

  it('finds every program the plan names in daxmon.bpf.c, in a section of the right type for the hook', () => {
    const sections: Record<LibbpfVia, (target: string) => string[]> = {
      fentry: (t) => [`fentry/${t}`, `fexit/${t}`],
      kprobe: (t) => [`kprobe/${t}`, `kretprobe/${t}`],
      tp_btf: (t) => [`tp_btf/${t.split(':')[1]}`],
      tracepoint: (t) => [`tracepoint/${t.replace(':', '/')}`],
    };
    for (const d of LIBBPF_PROBES) {
      for (const h of d.hooks) {
        const uses = [
          ...h.variants.map((v) => [v.via, v.programs] as const),
          ...(h.clone ? [['kprobe', h.clone.programs] as const] : []),
        ];
        for (const [via, names] of uses) {
          for (const name of names) {
            const prog = programByName.get(name);
            expect(prog, `${name} is not in daxmon.bpf.c`).toBeDefined();
            expect(sections[via](h.target), name).toContain(prog?.section);
          }
        }
      }
    }
  });

  it('has no program in daxmon.bpf.c the plan does not name, nor one named for a probe outside the catalogue', () => {
    const planned = new Set(
      LIBBPF_PROBES.flatMap((d) =>
        d.hooks.flatMap((h) => [...h.variants.flatMap((v) => v.programs), ...(h.clone?.programs ?? [])]),
      ),
    );
    expect(programs.length).toBeGreaterThan(50);
    for (const p of programs) {
      expect(planned, `${p.name} (${p.section}) is never planned`).toContain(p.name);
      // the loader reports everything before the first "__" as the probe (loader.c prog_probe)
      expect(LIBBPF_PROBE_NAMES as readonly string[]).toContain(p.name.split('__')[0]);
    }
  });

  const BUILD = path.join(ROOT, 'bpf', 'build');
  const built = existsSync(path.join(BUILD, 'daxmon-loader')) && existsSync(path.join(BUILD, 'daxmon.bpf.o'));
  it.skipIf(!built)('reads the same programs from the source as the loader lists in the built object', () => {
    const list = JSON.parse(
      execFileSync(path.join(BUILD, 'daxmon-loader'), ['--list', path.join(BUILD, 'daxmon.bpf.o')], {
        encoding: 'utf8',
      }),
    ) as { programs: { name: string; probe: string }[] };
    expect(programs.map((p) => p.name).sort()).toEqual(list.programs.map((p) => p.name).sort());
  });
});

describe('the bpftrace backend implements exactly the catalogue probes it claims', () => {
  it('has snippets only for bpftrace probes of the catalogue', () => {
    for (const s of lib.snippets)
      expect(BPFTRACE_PROBE_NAMES as readonly string[], s.file).toContain(s.probe);
  });

  it('has a snippet for every bpftrace probe in each model it applies to, and a stub saying why elsewhere', () => {
    for (const probe of BPFTRACE_PROBE_NAMES) {
      const p = hookProbe(probe);
      for (const m of MODELS) {
        const real = realSnippets(probe).filter((s) => s.model === 'any' || s.model === m);
        if (p.models.includes(m)) expect(real.length, `${probe} (${m})`).toBeGreaterThan(0);
        else {
          // what makes the assembly report it "not applicable" rather than "unavailable"
          expect(real, `${probe} (${m})`).toEqual([]);
          expect(
            lib.snippets.some((s) => s.probe === probe && s.model === m && s.unavailable !== null),
            `${probe}: no ${m}-model stub`,
          ).toBe(true);
        }
      }
    }
  });

  it('hooks only functions and tracepoints the catalogue lists for the probe and model', () => {
    for (const probe of BPFTRACE_PROBE_NAMES) {
      for (const s of realSnippets(probe)) {
        const listed = catalogueTargets(probe, snippetModels(s, probe));
        for (const h of s.hooks) expect(listed, `${s.file}: ${h.spec}`).toContain(baseName(h.target));
        for (const h of s.hooks) {
          if (h.module === null) continue;
          const fnHook = MODELS.flatMap((m) => hookProbe(probe).hooks[m]).find(
            (k) => k.kind === 'function' && k.names.includes(h.target),
          );
          expect(fnHook, s.file).toMatchObject({ module: h.module });
        }
      }
    }
  });
});

describe('every hook of the catalogue is used by a backend that implements the probe', () => {
  it('for each probe and model, each listed function or tracepoint', () => {
    for (const probe of HOOK_PROBES) {
      const p = hookProbe(probe);
      for (const m of p.models) {
        const used = new Set<string>();
        if (p.backends.includes('libbpf'))
          for (const h of LIBBPF_PROBES.find((d) => d.probe === probe)?.hooks ?? []) used.add(h.target);
        if (p.backends.includes('bpftrace'))
          for (const s of realSnippets(probe).filter((x) => x.model === 'any' || x.model === m))
            for (const h of s.hooks) used.add(baseName(h.target));
        for (const h of p.hooks[m]) {
          const names = h.kind === 'tracepoint' ? [h.name] : h.names;
          for (const n of names) expect(used, `${probe} (${m}): ${n} is hooked by no backend`).toContain(n);
        }
      }
    }
  });
});

/** One line of a tag with plausible fields, as a snippet would print it. */
function sampleLine(tag: LineTag): string {
  const value = (field: string): string => {
    const [name, kind] = field.split(':') as [string, string];
    if (name === 'src') return 'h';
    if (name === 'type') return '4';
    if (name === 'via') return MAP_VIAS[0];
    if (name === 'fn') return LAYOUT_BREAK_FNS[0];
    return kind === 'x' ? '0xffff888100a00000' : '1';
  };
  return [tag, '1000', '42', ...LINE_FIELDS[tag].map(value), 'daxmon-test'].join('\t') + '\n';
}

function decodedType(tag: LineTag): DaxEvent['type'] | undefined {
  const warnings: string[] = [];
  const noop = () => {};
  const d = new BpftraceDecoder({
    log: { debug: noop, info: noop, warn: (m) => warnings.push(m), error: noop },
    included: [],
    sleepsKnown: true,
  });
  const events: DaxEvent[] = [];
  d.push(Buffer.from(sampleLine(tag)), (e) => events.push(e));
  expect(warnings, tag).toEqual([]);
  return events[0]?.type;
}

describe('what the catalogue says a probe observes is what its bpftrace snippets print', () => {
  const tagsIn = (text: string): LineTag[] =>
    [...text.matchAll(/printf\("([A-Z]+)\+?\\t/g)].map((m) => m[1] as LineTag);

  it('each line a snippet prints decodes to an event of its probe, and each event of a probe is printed', () => {
    for (const probe of BPFTRACE_PROBE_NAMES) {
      const events = hookProbe(probe).events as readonly string[];
      const printed = new Set<string>();
      for (const s of realSnippets(probe)) {
        for (const m of snippetModels(s, probe)) {
          for (const tag of tagsIn(expandIncludes(s.body, lib.lib, m, s.file))) {
            const type = decodedType(tag) as string;
            printed.add(type);
            // besides its own events, a folio read may report a pgmap it discovers (lib/pgmap_discover)
            if (!events.includes(type))
              expect(DISCOVERY_EVENTS, `${s.file} (${m}) prints ${tag}`).toContain(type);
          }
        }
      }
      for (const e of events) expect(printed, `${probe}: no snippet prints its ${e}`).toContain(e);
    }
  });
});

describe('the checks require only catalogue probes that can be attached', () => {
  it('each required hook probe applies to the model and has a backend; each alternative sees an event the check inspects', () => {
    for (const c of allChecks()) {
      for (const m of MODELS) {
        for (const set of c.requires(m)) {
          expect(set.length, c.kind).toBeGreaterThan(0);
          const seen = new Set<string>();
          for (const probe of set) {
            expect(isProbeName(probe), `${c.kind} requires ${probe}`).toBe(true);
            const e = catalogueEntry(probe);
            for (const t of e.events) seen.add(t);
            if (e.kind === 'capability') continue;
            // required where the probe is "not applicable", the check could never become active
            expect(e.models, `${c.kind} (${m}) requires ${probe}`).toContain(m);
          }
          expect(
            c.events.some((t) => seen.has(t)),
            `${c.kind} (${m}): ${set.join('+')} produce none of ${c.events.join(', ')}`,
          ).toBe(true);
        }
      }
    }
  });
});

describe('every probe name the backends report in probe_status is in the catalogue', () => {
  it.each(HOSTS)('%s: libbpf plan and bpftrace assembly', (_host, facts) => {
    const f = facts();
    const p = planHooks(f);
    const a = assembleScript(f, lib);
    const names = [
      ...p.probes,
      ...p.unavailable.map((u) => u.probe),
      ...p.notApplicable.map((u) => u.probe),
      ...a.included.map((i) => i.probe),
      ...a.unavailable.map((u) => u.probe),
      ...a.notApplicable.map((u) => u.probe),
    ];
    for (const n of names) expect(isProbeName(n), n).toBe(true);
    // and each backend accounts for every probe it implements, once
    const libbpf = [...p.probes, ...p.unavailable, ...p.notApplicable].map((x) =>
      typeof x === 'string' ? x : x.probe,
    );
    expect(libbpf.sort()).toEqual([...LIBBPF_PROBE_NAMES].sort());
    const bt = [...a.included, ...a.unavailable, ...a.notApplicable].map((x) => x.probe);
    expect(bt.sort()).toEqual([...BPFTRACE_PROBE_NAMES].sort());
  });
});
