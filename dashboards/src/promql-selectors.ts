/**
 * Finds the vector selectors (metric name and label matchers) in a PromQL expression, so tests can
 * check every panel and alert against the metrics contract. It is a scanner, not a parser: promtool
 * decides whether an expression is valid; this only needs to find names in valid ones.
 */

export interface LabelMatcher {
  readonly label: string;
  readonly op: '=' | '!=' | '=~' | '!~';
  readonly value: string;
}

export interface Selector {
  /** Metric name, or '' for a bare `{...}` selector. */
  readonly name: string;
  readonly matchers: readonly LabelMatcher[];
}

/** Aggregations, binary keywords and modifiers: identifiers that are never metric names. */
const KEYWORDS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'and',
  'or',
  'unless',
  'atan2',
  'inf',
  'nan',
]);
/** Keywords followed by a parenthesised label list rather than an expression. */
const LABEL_LISTS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

function readString(s: string, i: number): [string, number] {
  const quote = s[i];
  let j = i + 1;
  let out = '';
  while (j < s.length && s[j] !== quote) {
    if (s[j] === '\\' && quote !== '`') {
      out += s[j + 1] ?? '';
      j += 2;
    } else {
      out += s[j];
      j += 1;
    }
  }
  return [out, j + 1];
}

function skipSpace(s: string, i: number): number {
  while (i < s.length && /\s/.test(s[i] ?? '')) i++;
  return i;
}

function readMatchers(s: string, i: number): [LabelMatcher[], number] {
  // s[i] === '{'
  const out: LabelMatcher[] = [];
  let j = i + 1;
  for (;;) {
    j = skipSpace(s, j);
    if (s[j] === '}') return [out, j + 1];
    const label = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(s.slice(j))?.[0];
    if (!label) throw new Error(`bad matcher at ${j} in ${s}`);
    j = skipSpace(s, j + label.length);
    const op = /^(=~|!~|!=|=)/.exec(s.slice(j))?.[0] as LabelMatcher['op'] | undefined;
    if (!op) throw new Error(`bad matcher operator at ${j} in ${s}`);
    j = skipSpace(s, j + op.length);
    const [value, next] = readString(s, j);
    out.push({ label, op, value });
    j = skipSpace(s, next);
    if (s[j] === ',') j++;
  }
}

export function selectors(expr: string): Selector[] {
  const out: Selector[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i] ?? '';
    if (c === '"' || c === "'" || c === '`') {
      i = readString(expr, i)[1];
    } else if (c === '[') {
      i = expr.indexOf(']', i) + 1; // range or subquery durations
    } else if (c === '{') {
      const [matchers, next] = readMatchers(expr, i);
      out.push({ name: '', matchers });
      i = next;
    } else if (/[0-9.]/.test(c)) {
      i += /^[0-9.][0-9a-zA-Z_.+-]*/.exec(expr.slice(i))?.[0].length ?? 1; // numbers, durations
    } else if (/[a-zA-Z_:]/.test(c)) {
      const word = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(expr.slice(i))?.[0] ?? c;
      const after = skipSpace(expr, i + word.length);
      if (LABEL_LISTS.has(word) && expr[after] === '(') {
        i = expr.indexOf(')', after) + 1;
      } else if (KEYWORDS.has(word.toLowerCase()) || expr[after] === '(') {
        i += word.length; // aggregation, keyword or function call
      } else if (expr[after] === '{') {
        const [matchers, next] = readMatchers(expr, after);
        out.push({ name: word, matchers });
        i = next;
      } else {
        out.push({ name: word, matchers: [] });
        i += word.length;
      }
    } else {
      i++;
    }
  }
  return out;
}
