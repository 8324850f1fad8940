import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fieldsOf } from '../../src/events/schema.js';
import { EVENT_TYPES } from '../../src/events/types.js';

const doc = fs.readFileSync(new URL('../../docs/events.md', import.meta.url), 'utf8');

/** The part of docs/events.md that describes `type`: its section, or its row in a table. */
function sectionOf(type: string): string {
  const h = doc.indexOf(`### \`${type}\``);
  if (h >= 0) {
    const next = doc.indexOf('\n## ', h + 1);
    const nextH = doc.indexOf('\n### ', h + 1);
    const end = Math.min(...[next, nextH].filter((x) => x > 0), doc.length);
    // sections may share a heading ("### `a`, `b`")
    return doc.slice(h, end);
  }
  const row = doc.split('\n').find((l) => l.startsWith(`| \`${type}\``));
  if (row) return row;
  const shared = doc.split('\n').find((l) => l.startsWith('### ') && l.includes(`\`${type}\``));
  if (shared) return sectionOf(shared.slice(4).split(',')[0]!.replace(/`/g, '').trim());
  return '';
}

describe('docs/events.md', () => {
  it('documents every event type and every one of its fields', () => {
    for (const type of EVENT_TYPES) {
      const sec = sectionOf(type);
      expect(sec, `no section for ${type}`).not.toBe('');
      for (const { name } of fieldsOf(type)) {
        if (['t', 'pid', 'comm'].includes(name)) continue; // the common fields table
        expect(
          sec.includes(`\`${name}\``) || sec.includes(`${name}\``) || sec.includes(`, \`${name}`),
          `${type}.${name}`,
        ).toBe(true);
      }
    }
    for (const f of ['t', 'pid', 'comm', 'stack']) expect(doc).toContain(`| \`${f}\``);
  });
});
