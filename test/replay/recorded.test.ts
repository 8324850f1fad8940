import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { replay } from '../../src/replay.js';

// False alarms daxmon once raised on a real, healthy kernel, as the live daemon saw them
// (test/fixtures/recorded/README.md says where each came from): each must replay quiet.
const DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'recorded');
const files = fs
  .readdirSync(DIR)
  .filter((f) => f.endsWith('.ndjson'))
  .sort();

describe('recorded false alarms stay fixed', () => {
  it('has recordings, each described in the README', () => {
    expect(files.length).toBeGreaterThan(0);
    const readme = fs.readFileSync(path.join(DIR, 'README.md'), 'utf8');
    for (const f of files) expect(readme, f).toContain(`\`${f}\``);
  });

  for (const f of files) {
    it(`${f} replays with no violation`, async () => {
      const r = await replay(path.join(DIR, f));
      expect(r.errors).toEqual([]);
      expect(r.events).toBeGreaterThan(2);
      expect(r.violations).toEqual([]);
    });
  }
});
