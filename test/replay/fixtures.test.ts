import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { VIOLATION_KINDS } from '../../src/checks/types.js';
import { replay } from '../../src/replay.js';
import { STREAM_DIR, renderFixtures } from '../fixtures/make-streams.js';

const files = fs
  .readdirSync(STREAM_DIR)
  .filter((f) => f.endsWith('.ndjson'))
  .sort();

describe('replay fixtures keep the promise of their names', () => {
  it('the committed fixtures are exactly what the generator makes', () => {
    const want = renderFixtures();
    expect(files).toEqual([...want.keys()].sort());
    for (const f of files) expect(fs.readFileSync(path.join(STREAM_DIR, f), 'utf8'), f).toBe(want.get(f));
  });

  it('every violation kind has a firing fixture, for both models', () => {
    for (const kind of VIOLATION_KINDS) {
      expect(files, kind).toContain(`new-${kind}.ndjson`);
      expect(files, kind).toContain(`old-${kind}.ndjson`);
    }
  });

  for (const f of files) {
    const [model, ...rest] = f.replace(/\.ndjson$/, '').split('-');
    const promise = rest.join('-');
    it(`${f}: ${promise.startsWith('healthy') ? 'no violation' : `raises ${promise}`} under the ${model} model`, async () => {
      const r = await replay(path.join(STREAM_DIR, f));
      expect(r.errors).toEqual([]);
      expect(r.model).toBe(model);
      const kinds = [...new Set(r.violations.map((v) => v.kind))];
      if (promise.startsWith('healthy')) expect(kinds).toEqual([]);
      else expect(kinds).toEqual([promise]);
    });
  }
});
