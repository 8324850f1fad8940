/**
 * docs/kernel-model.md is the reference the code cites for the kernel's refcount model
 * (`docs/kernel-model.md §N`, `§6 step N`, `Vn`, evidence tags such as K618). These tests keep the
 * citations and the doc honest: every citation resolves to a heading (or a §0 evidence tag) that
 * exists, nothing cites the background notes outside the repository, and every fact row of the doc
 * carries evidence.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..', '..');
const DOC = 'docs/kernel-model.md';
const docText = fs.readFileSync(path.join(root, DOC), 'utf8');
const SELF = path.relative(root, import.meta.filename);

const SCANNED_DIRS = ['src', 'lab/src', 'bpf', 'test', 'dashboards'];
const SKIP_DIRS = new Set(['node_modules', 'build', 'dist', 'coverage']);
const TEXT_FILE = /\.(ts|mts|js|mjs|c|h|bt|sh|json|ya?ml|md)$/;

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) out.push(...walk(p));
    } else if (TEXT_FILE.test(e.name)) out.push(p);
  }
  return out;
}

/** Every file whose citations are checked, relative to the repository root. */
function citingFiles(): string[] {
  const files = SCANNED_DIRS.flatMap((d) => walk(path.join(root, d)));
  files.push(path.join(root, 'README.md'));
  for (const f of fs.readdirSync(path.join(root, 'docs'))) {
    if (f.endsWith('.md') && f !== 'kernel-model.md') files.push(path.join(root, 'docs', f));
  }
  return files.map((f) => path.relative(root, f)).filter((f) => f !== SELF);
}

/** What a citation may point at: section ids (`§2.4`, `§6 step 2`, `V8`, `appendix`), tags, titles. */
interface DocIndex {
  ids: Set<string>;
  /** Heading titles (lower case) by the top-level section they are in (`§1`). */
  titles: Map<string, Set<string>>;
}

function indexDoc(text: string): DocIndex {
  const ids = new Set<string>();
  const titles = new Map<string, Set<string>>();
  let section = '';
  let inEvidenceTable = false;
  for (const line of text.split('\n')) {
    const h = /^(#{2,4}) (.+?)\s*$/.exec(line);
    if (h) {
      const title = h[2]!;
      const top = /^(\d+)\. /.exec(title);
      const sub = /^(\d+\.\d+) /.exec(title);
      const inv = /^(V\d+) /.exec(title);
      const step = /^Step (\d+)\b/.exec(title);
      if (h[1] === '##') {
        section = top ? `§${top[1]}` : /^Appendix\b/.test(title) ? 'appendix' : title.toLowerCase();
        ids.add(section);
      } else if (sub) ids.add(`§${sub[1]}`);
      else if (inv) ids.add(inv[1]!);
      else if (step) ids.add(`${section} step ${step[1]}`);
      const set = titles.get(section) ?? new Set<string>();
      set.add(title.toLowerCase());
      titles.set(section, set);
      inEvidenceTable = false;
      continue;
    }
    // §0's table defines the evidence tags (K618, D612, …): its first column.
    if (section === '§0') {
      if (/^\| tag \|/.test(line)) inEvidenceTable = true;
      const tag = /^\| ([A-Z][A-Z0-9]{1,5}) \|/.exec(line);
      if (inEvidenceTable && tag) ids.add(tag[1]!);
    }
  }
  return { ids, titles };
}

interface Citation {
  file: string;
  line: number;
  /** `docs/kernel-model.md` (the project's form) or a bare/other path (the shared note's form). */
  projectForm: boolean;
  refs: string[];
  /** `§1 "Where the FS DAX pgmap comes from"`: the quoted heading and its section. */
  titled: { section: string; title: string }[];
}

const REF = /^(§\d+(?:\.\d+)?(?:\s+step\s+\d+)?|V\d+\b|[A-Z][A-Z0-9]{1,5}\b|appendix\b)/;
const SEP = /^(\s*(?:,|\/|and)\s*|\s+)/;

/**
 * Citations of kernel-model.md in one file's text. A comment that wraps (`//`, ` * `, `#`) is read
 * as one line, so `(kernel-model.md\n// §1)` still names §1.
 */
function citationsIn(file: string, text: string): Citation[] {
  const out: Citation[] = [];
  const re = /kernel-model\.md/g;
  for (const m of text.matchAll(re)) {
    const at = m.index;
    const before = text.slice(Math.max(0, at - 5), at);
    const projectForm = before.endsWith('docs/') || (file.startsWith('docs/') && before.endsWith(']('));
    const tail = text
      .slice(at + m[0].length, at + m[0].length + 240)
      .replace(/\n\s*(?:\/\/|\*|#)?\s*/g, ' ')
      .replace(/^[`'")\]]+/, '');
    const refs: string[] = [];
    const titled: Citation['titled'] = [];
    let rest = tail;
    for (;;) {
      const sep = SEP.exec(rest);
      const afterSep = sep ? rest.slice(sep[0].length) : rest;
      const r = REF.exec(afterSep);
      if (!r || (refs.length > 0 && !sep)) break;
      const ref = r[1]!.replace(/\s+/g, ' ');
      refs.push(ref);
      rest = afterSep.slice(r[0].length);
      const q = /^\s*"([^"]+)"/.exec(rest);
      if (q && ref.startsWith('§')) {
        titled.push({ section: ref.split(/[.\s]/)[0]!, title: q[1]!.replace(/\s+/g, ' ') });
        rest = rest.slice(q[0].length);
      }
    }
    out.push({ file, line: text.slice(0, at).split('\n').length, projectForm, refs, titled });
  }
  return out;
}

/** What is wrong with one citation, or nothing. */
function problemsOf(c: Citation, index: DocIndex): string[] {
  const where = `${c.file}:${c.line}`;
  const out: string[] = [];
  if (!c.projectForm) out.push(`${where}: cites kernel-model.md without docs/ (the shared note)`);
  for (const ref of c.refs) {
    if (!index.ids.has(ref)) out.push(`${where}: ${ref} is not a heading or §0 tag of ${DOC}`);
  }
  for (const t of c.titled) {
    if (!index.titles.get(t.section)?.has(t.title.toLowerCase())) {
      out.push(`${where}: no heading "${t.title}" in ${t.section} of ${DOC}`);
    }
  }
  return out;
}

/** Table rows of a markdown text, split into cells (`\|` is a pipe inside a cell). */
function tables(text: string): { section: string; header: string[]; rows: string[][] }[] {
  const out: { section: string; header: string[]; rows: string[][] }[] = [];
  const lines = text.split('\n');
  const cells = (l: string): string[] =>
    l
      .trim()
      .replace(/^\||\|$/g, '')
      .split(/(?<!\\)\|/)
      .map((c) => c.trim());
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const h = /^## (\d+)\. /.exec(lines[i]!);
    if (h) section = `§${h[1]}`;
    else if (/^## /.test(lines[i]!)) section = lines[i]!.slice(3).trim();
    if (/^\|/.test(lines[i]!) && /^\|\s*-{3}/.test(lines[i + 1] ?? '')) {
      const header = cells(lines[i]!).map((c) => c.toLowerCase());
      const rows: string[][] = [];
      let j = i + 2;
      for (; j < lines.length && /^\|/.test(lines[j]!); j++) rows.push(cells(lines[j]!));
      out.push({ section, header, rows });
      i = j - 1;
    }
  }
  return out;
}

const index = indexDoc(docText);

describe('the citation parser', () => {
  const idx = indexDoc(
    '## 0. Evidence base\n\n| tag | what |\n| --- | --- |\n| K618 | dev host |\n\n## 1. pgmaps\n\n### Where it comes from\n\n## 5. Invariants\n\n### V8 busy_wait_stuck\n\n## 6. Detection\n\n### Step 2: BTF\n',
  );

  it('indexes sections, steps, invariants and §0 tags', () => {
    expect([...idx.ids].sort()).toEqual(['K618', 'V8', '§0', '§1', '§5', '§6', '§6 step 2'].sort());
  });

  it('reads lists of references, wrapped comments and quoted headings', () => {
    const text = [
      '/** (docs/kernel-model.md §6 step 2) */',
      '// see docs/kernel-model.md §1, §5 and V8 for why',
      ' * hook (docs/kernel-model.md §1 "Where it',
      ' * comes from"): more',
      '// (docs/kernel-model.md',
      '// §9).',
    ].join('\n');
    const cs = citationsIn('src/a.ts', text);
    expect(cs.map((c) => c.refs)).toEqual([['§6 step 2'], ['§1', '§5', 'V8'], ['§1'], ['§9']]);
    expect(cs[2]!.titled).toEqual([{ section: '§1', title: 'Where it comes from' }]);
    expect(cs.slice(0, 3).flatMap((c) => problemsOf(c, idx))).toEqual([]);
    expect(problemsOf(cs[3]!, idx)).toEqual([`src/a.ts:5: §9 is not a heading or §0 tag of ${DOC}`]);
  });

  it('flags the shared note form and unknown headings', () => {
    const [bare] = citationsIn('src/b.ts', '// kernel-model.md V8: old kernels');
    expect(bare!.projectForm).toBe(false);
    expect(problemsOf(bare!, idx)).toEqual([
      'src/b.ts:1: cites kernel-model.md without docs/ (the shared note)',
    ]);
    const [titled] = citationsIn('src/c.ts', '// docs/kernel-model.md §5 "Where it comes from"');
    expect(problemsOf(titled!, idx)).toEqual([
      `src/c.ts:1: no heading "Where it comes from" in §5 of ${DOC}`,
    ]);
  });

  it('splits table cells on unescaped pipes only', () => {
    const [t] = tables('## 1. x\n\n| fact | evidence |\n| --- | --- |\n| `a \\| b` | D612 |\n| c |  |\n');
    expect(t).toEqual({
      section: '§1',
      header: ['fact', 'evidence'],
      rows: [
        ['`a \\| b`', 'D612'],
        ['c', ''],
      ],
    });
  });
});

describe(DOC, () => {
  it('keeps the shared note numbering: §0–§8, V1–V11, §6 steps 1–4, the appendix', () => {
    const expected = [
      ...Array.from({ length: 9 }, (_, i) => `§${i}`),
      '§2.1',
      '§2.2',
      '§2.3',
      '§2.4',
      '§4.1',
      '§4.2',
      '§4.3',
      ...Array.from({ length: 11 }, (_, i) => `V${i + 1}`),
      ...[1, 2, 3, 4].map((n) => `§6 step ${n}`),
      'appendix',
    ];
    expect(expected.filter((id) => !index.ids.has(id))).toEqual([]);
  });

  it('names each invariant as the check that implements it does', () => {
    const dir = path.join(root, 'src', 'checks');
    const kinds: string[] = [];
    for (const f of fs.readdirSync(dir)) {
      const m = /^ \* (V\d+) ([a-z_]+):/m.exec(fs.readFileSync(path.join(dir, f), 'utf8'));
      if (m) kinds.push(`${m[1]} ${m[2]}`);
    }
    expect(kinds).toHaveLength(11);
    const headings = index.titles.get('§5') ?? new Set<string>();
    expect(kinds.filter((k) => !headings.has(k.toLowerCase()))).toEqual([]);
  });

  it('gives every fact row an evidence cell', () => {
    const problems: string[] = [];
    for (const t of tables(docText)) {
      if (t.section === '§0') continue; // the evidence base itself
      const col = t.header.indexOf('evidence');
      if (col < 0) {
        problems.push(`a table in ${t.section} has no evidence column: | ${t.header.join(' | ')} |`);
        continue;
      }
      for (const r of t.rows) {
        if (r.length !== t.header.length)
          problems.push(`${t.section}: ${r.length} cells, not ${t.header.length}: ${r[0]}`);
        else if (!/[A-Za-z0-9§]/.test(r[col] ?? '')) problems.push(`${t.section}: no evidence for "${r[0]}"`);
      }
    }
    expect(problems).toEqual([]);
  });
});

describe('citations of the kernel model', () => {
  const files = citingFiles();

  it('finds the citations (the scan is not empty)', () => {
    const all = files.flatMap((f) => citationsIn(f, fs.readFileSync(path.join(root, f), 'utf8')));
    expect(all.length).toBeGreaterThan(30);
    expect(all.filter((c) => c.refs.length > 0).length).toBeGreaterThan(25);
  });

  it(`every citation in src/, lab/src/, bpf/, test/, dashboards/, README.md and docs/ resolves in ${DOC}`, () => {
    const problems: string[] = [];
    for (const f of files) {
      for (const c of citationsIn(f, fs.readFileSync(path.join(root, f), 'utf8'))) {
        problems.push(...problemsOf(c, index));
      }
    }
    expect(problems).toEqual([]);
  });

  it('nothing cites the background notes outside the repository', () => {
    const SHARED = /vm-testbed\.md|\.\.\/shared\/|\/work\/shared|shared\/docs|of the shared\s+docs/;
    const problems: string[] = [];
    for (const f of files) {
      fs.readFileSync(path.join(root, f), 'utf8')
        .split('\n')
        .forEach((l, i) => {
          if (SHARED.test(l)) problems.push(`${f}:${i + 1}: ${l.trim()}`);
        });
    }
    expect(problems).toEqual([]);
  });
});
