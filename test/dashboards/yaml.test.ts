import { describe, expect, it } from 'vitest';
import { toYaml } from '../../dashboards/src/yaml.js';

describe('YAML emitter', () => {
  it('leaves plain words and durations bare, and quotes what YAML would misread', () => {
    expect(toYaml({ a: 'daxmon', for: '10m', b: 'yes', c: 'on', d: '1', e: 'a: b', f: "it's" })).toBe(
      "a: daxmon\nfor: 10m\nb: 'yes'\nc: 'on'\nd: '1'\ne: 'a: b'\nf: 'it''s'\n",
    );
  });

  it('writes multi-line text as a literal block, indented under its key', () => {
    expect(toYaml({ list: [{ runbook: '1. one\n2. two "x"' }] })).toBe(
      'list:\n  - runbook: |-\n      1. one\n      2. two "x"\n',
    );
  });

  it('falls back to a double-quoted string when a block cannot hold the text', () => {
    expect(toYaml({ a: 'trailing \nspace' })).toBe('a: "trailing \\nspace"\n');
    expect(toYaml({ a: 'tab\u0001' })).toBe('a: "tab\\u0001"\n');
  });

  it('writes numbers, booleans and empty collections inline', () => {
    expect(toYaml({ x: 1.5, t: true, l: [], o: {} })).toBe('x: 1.5\nt: true\nl: []\no: {}\n');
    expect(toYaml({ n: 1 })).toBe("'n': 1\n");
  });

  it('refuses what it cannot represent', () => {
    expect(() => toYaml({ n: Number.NaN })).toThrow();
    expect(() => toYaml('x')).toThrow();
  });
});
