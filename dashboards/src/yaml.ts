/**
 * A YAML emitter for the plain data daxmon generates (rule files, promtool tests): objects, arrays,
 * strings, finite numbers and booleans. Multi-line strings become literal blocks so runbooks read as
 * written; everything else that is not obviously plain is single-quoted, where the only escape is `''`.
 * promtool parses every file this produces in CI, which is what keeps it honest.
 */

export type YamlValue =
  string | number | boolean | readonly YamlValue[] | { readonly [key: string]: YamlValue };

const PLAIN = /^[A-Za-z_][A-Za-z0-9_./-]*$/;
const DURATION = /^[0-9]+(ms|s|m|h|d|w|y)$/;
/** Words YAML 1.1 (which Prometheus's parser follows) reads as booleans or null. */
const RESERVED = /^(y|n|yes|no|on|off|true|false|null|~)$/i;

/** Control characters other than tab; a literal block can hold none of them, a quoted scalar no newline. */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

function scalar(s: string): string {
  if ((PLAIN.test(s) || DURATION.test(s)) && !RESERVED.test(s)) return s;
  if (hasControl(s)) return JSON.stringify(s);
  return `'${s.replace(/'/g, "''")}'`;
}

function key(k: string): string {
  return PLAIN.test(k) && !RESERVED.test(k) ? k : scalar(k);
}

/** A literal block keeps newlines exactly; it cannot hold trailing spaces or a leading-space first line. */
function canBeBlock(s: string): boolean {
  if (!s.includes('\n') || s.startsWith(' ') || s.endsWith('\n')) return false;
  return s.split('\n').every((line) => !/[ \t]$/.test(line) && !hasControl(line));
}

function isObject(v: YamlValue): v is { readonly [key: string]: YamlValue } {
  return typeof v === 'object' && !Array.isArray(v);
}

function inline(v: YamlValue, indent: string): string | null {
  if (typeof v === 'string') {
    if (canBeBlock(v))
      return `|-\n${v
        .split('\n')
        .map((l) => (l === '' ? '' : `${indent}  ${l}`))
        .join('\n')}`;
    return v.includes('\n') ? JSON.stringify(v) : scalar(v);
  }
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`YAML: non-finite number ${v}`);
    return String(v);
  }
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v) && v.length === 0) return '[]';
  if (isObject(v) && Object.keys(v).length === 0) return '{}';
  return null;
}

function lines(v: YamlValue, indent: string): string[] {
  if (Array.isArray(v)) {
    return v.flatMap((item: YamlValue) => {
      const one = inline(item, `${indent}  `);
      if (one !== null) return [`${indent}- ${one}`];
      const [first = '', ...rest] = lines(item, `${indent}  `);
      return [`${indent}- ${first.slice(indent.length + 2)}`, ...rest];
    });
  }
  if (isObject(v)) {
    return Object.entries(v).flatMap(([k, item]) => {
      const one = inline(item, indent);
      if (one !== null) return [`${indent}${key(k)}: ${one}`];
      return [`${indent}${key(k)}:`, ...lines(item, `${indent}  `)];
    });
  }
  throw new Error('YAML: a document must be an object or an array');
}

export function toYaml(doc: YamlValue): string {
  return `${lines(doc, '').join('\n')}\n`;
}
