import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..', '..');
const doc = fs.readFileSync(path.join(root, 'docs', 'errors.md'), 'utf8');
// `DAXMON_E_BTF_*` in a comment names a family, not a code
const CODE = /DAXMON_E_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_]*\*)/g;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'build') out.push(...sourceFiles(p));
    } else if (/\.(ts|c|h|bt)$/.test(e.name)) out.push(p);
  }
  return out;
}

/** Codes the program can emit: every literal in src/, lab/src/ and bpf/ (build output excluded). */
function usedCodes(): Map<string, string> {
  const used = new Map<string, string>();
  const dirs = ['src', path.join('lab', 'src'), 'bpf'].map((d) => path.join(root, d));
  for (const f of dirs.flatMap(sourceFiles)) {
    for (const m of fs.readFileSync(f, 'utf8').matchAll(CODE)) {
      if (!used.has(m[0])) used.set(m[0], path.relative(root, f));
    }
  }
  return used;
}

/** Codes the doc lists: the first cell of its table rows. */
function documentedCodes(): Set<string> {
  const codes = new Set<string>();
  for (const line of doc.split('\n')) {
    const m = /^\| `(DAXMON_E_[A-Z0-9_]+)` \|/.exec(line);
    if (m) codes.add(m[1]!);
  }
  return codes;
}

describe('docs/errors.md', () => {
  it('documents every error code src/ and bpf/ use', () => {
    const documented = documentedCodes();
    const missing = [...usedCodes()].filter(([c]) => !documented.has(c)).map(([c, f]) => `${c} (${f})`);
    expect(missing).toEqual([]);
  });

  it('lists no code the program no longer uses, and each once', () => {
    const used = usedCodes();
    expect([...documentedCodes()].filter((c) => !used.has(c))).toEqual([]);
    const rows = doc.split('\n').filter((l) => /^\| `DAXMON_E_/.test(l));
    expect(rows.length).toBe(documentedCodes().size);
  });
});
