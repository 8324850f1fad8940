/**
 * docs/errors.md is the user's list of error codes; src/errors/catalogue.ts is the program's. They
 * must be the same list, and every code the program can print (TypeScript, the C loader and
 * scanner, bpftrace snippets) must be in it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CATALOGUE, ERROR_CODES, isErrorCode } from '../../src/errors/catalogue.js';
import { AREAS, renderTable, rerender, tablesIn } from './errors-doc.js';

const root = path.resolve(import.meta.dirname, '..', '..');
const DOC = path.join(root, 'docs', 'errors.md');
const CATALOGUE_FILE = path.join(root, 'src', 'errors', 'catalogue.ts');
// A code, but not a family: `DAXMON_E_BTF_*` and `DAXMON_E_LOADER_…` in a comment name several.
const CODE = /DAXMON_E_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_]*[*…])/g;
// Everything but tests, docs, dependencies and build output: wherever the VM lab lives, its codes
// are found. The VM test harness (test/vm) is the lab's too: its build errors reach the user of
// `npm run test:vm`, so it is read as source.
const SKIP = new Set(['node_modules', 'dist', 'build', 'test', 'docs', 'coverage', '.git']);

if (process.env.DAXMON_UPDATE_DOCS === '1') {
  fs.writeFileSync(DOC, rerender(fs.readFileSync(DOC, 'utf8')));
}
const doc = fs.readFileSync(DOC, 'utf8');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIP.has(e.name)) out.push(...sourceFiles(p));
    } else if (/\.(ts|mts|mjs|c|h|bt)$/.test(e.name) && p !== CATALOGUE_FILE) out.push(p);
  }
  return out;
}

/** Every code literal in the source outside the catalogue, with the first file naming it. */
function usedCodes(): Map<string, string> {
  const used = new Map<string, string>();
  for (const f of [...sourceFiles(root), ...sourceFiles(path.join(root, 'test', 'vm'))]) {
    for (const m of fs.readFileSync(f, 'utf8').matchAll(CODE)) {
      if (!used.has(m[0])) used.set(m[0], path.relative(root, f));
    }
  }
  return used;
}

describe('the error catalogue', () => {
  it('has every code the source prints, from TypeScript, C and bpftrace alike', () => {
    const used = usedCodes();
    // The scan reaches the C helpers and the TypeScript: a check that found nothing proves nothing.
    expect(used.get('DAXMON_E_LOADER_RINGBUF')).toBe('bpf/libbpf/loader.c');
    expect(used.get('DAXMON_E_SCAN_TEST_RUN')).toBe('bpf/libbpf/scan.c');
    expect(used.has('DAXMON_E_USAGE')).toBe(true);
    const missing = [...used].filter(([c]) => !isErrorCode(c)).map(([c, f]) => `${c} (${f})`);
    expect(missing).toEqual([]);
  });

  it('has no code the program no longer uses', () => {
    const used = usedCodes();
    expect(ERROR_CODES.filter((c) => !used.has(c))).toEqual([]);
  });

  it('says what each code means and what to do about it', () => {
    for (const [code, info] of Object.entries(CATALOGUE)) {
      expect(info.meaning.trim(), code).not.toBe('');
      expect(info.whatToDo.trim(), code).not.toBe('');
    }
  });
});

describe('docs/errors.md', () => {
  it('has one table per area, each exactly the catalogue’s (DAXMON_UPDATE_DOCS=1 rewrites them)', () => {
    const tables = tablesIn(doc);
    expect(tables.map((t) => t.area).sort()).toEqual([...AREAS].sort());
    for (const t of tables) expect(t.table, `the ${t.area} table`).toBe(renderTable(t.area as never));
  });

  it('documents every catalogue code in a table row, once', () => {
    const rows = [...doc.matchAll(/^\| `(DAXMON_E_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
    expect(rows.sort()).toEqual([...ERROR_CODES].sort());
  });

  it('names no code, in a row or in its prose, that the catalogue does not have', () => {
    expect([...doc.matchAll(CODE)].map((m) => m[0]).filter((c) => !isErrorCode(c))).toEqual([]);
  });
});
