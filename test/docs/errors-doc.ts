/**
 * docs/errors.md's tables, rendered from the catalogue. The doc keeps its own headings and prose;
 * each table sits between `<!-- errors: AREA -->` and `<!-- /errors -->` and is exactly what
 * `renderTable(AREA)` gives, so the doc cannot drift from the codes the program has.
 */
import {
  CATALOGUE,
  DEFAULT_EXIT_CODE,
  codesOf,
  type ErrorArea,
  type ErrorInfo,
} from '../../src/errors/catalogue.js';

export const AREAS = [...new Set(Object.values(CATALOGUE).map((i) => i.area))] as ErrorArea[];

const cell = (s: string): string => s.replace(/\|/g, '\\|');

export function renderTable(area: ErrorArea): string {
  const codes = codesOf(area);
  const info = (c: (typeof codes)[number]): ErrorInfo => CATALOGUE[c];
  const status = codes.some((c) => info(c).httpStatus !== undefined);
  const exit = codes.some((c) => info(c).exitCode !== undefined);
  const head = ['code', ...(status ? ['status'] : []), 'meaning', 'what to do', ...(exit ? ['exit'] : [])];
  const rows = codes.map((c) => {
    const i = info(c);
    return [
      `\`${c}\``,
      ...(status ? [String(i.httpStatus ?? '')] : []),
      cell(i.meaning),
      cell(i.whatToDo),
      ...(exit ? [String(i.exitCode ?? DEFAULT_EXIT_CODE)] : []),
    ];
  });
  return [head, head.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

const BLOCK = /<!-- errors: ([a-z]+) -->\n([^]*?)<!-- \/errors -->/g;

/** The doc's tables by area, in the order they appear. */
export function tablesIn(doc: string): { area: string; table: string }[] {
  return [...doc.matchAll(BLOCK)].map((m) => ({ area: m[1]!, table: m[2]!.replace(/\n$/, '') }));
}

/** The doc with every table of a known area replaced by its rendering. */
export function rerender(doc: string): string {
  return doc.replace(BLOCK, (block, area: string) =>
    AREAS.includes(area as ErrorArea)
      ? `<!-- errors: ${area} -->\n${renderTable(area as ErrorArea)}\n<!-- /errors -->`
      : block,
  );
}
