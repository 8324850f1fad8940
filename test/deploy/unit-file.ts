/**
 * The few facts tests need from deploy/daxmon.service and bpf/libbpf/caps.c, parsed once, so the
 * unit tests and the VM test (test/vm/privilege.vm.test.ts, which starts daxmon "as the unit
 * does") read the same values from the files themselves rather than a copy of them.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `[Service]` settings, each key with every value it was given (later ones last). */
export function parseUnit(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      section = sec[1]!;
      continue;
    }
    if (section !== 'Service') continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim();
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return out;
}

/** The last value of a setting (systemd: the last assignment wins), or undefined. */
export function setting(unit: Map<string, string[]>, key: string): string | undefined {
  const v = unit.get(key);
  return v === undefined ? undefined : v[v.length - 1];
}

/** `CAP_BPF CAP_PERFMON` → ['bpf', 'perfmon'] (setpriv's and capsh's spelling), sorted. */
export function capNames(value: string | undefined): string[] {
  return (value ?? '')
    .split(/\s+/)
    .filter(Boolean)
    .map((c) => c.replace(/^CAP_/i, '').toLowerCase())
    .sort();
}

/** `Environment=A=B C=D` settings into a map. */
export function unitEnvironment(unit: Map<string, string[]>): Map<string, string> {
  const env = new Map<string, string>();
  for (const v of unit.get('Environment') ?? [])
    for (const kv of v.split(/\s+/)) {
      const eq = kv.indexOf('=');
      if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
    }
  return env;
}

export interface HelperCaps {
  name: string;
  mode: string | null;
  caps: string[];
}

/** The helper table of bpf/libbpf/caps.c: name, optional first-argument mode, capability set. */
export function parseLauncherTable(source: string): HelperCaps[] {
  const out: HelperCaps[] = [];
  const re = /\{\s*"(daxmon-[a-z]+)",\s*(NULL|"[^"]*"),\s*((?:BIT\(CAP_[A-Z_]+\)\s*\|?\s*)+)\}/g;
  for (const m of source.matchAll(re)) {
    out.push({
      name: m[1]!,
      mode: m[2] === 'NULL' ? null : m[2]!.slice(1, -1),
      caps: [...m[3]!.matchAll(/CAP_([A-Z_]+)/g)].map((c) => c[1]!.toLowerCase()).sort(),
    });
  }
  return out;
}

export const readRepo = (rel: string): string => readFileSync(path.join(REPO, rel), 'utf8');
