/**
 * `daxmon replay` in process (src/commands/replay.ts): what it prints and the exit status it
 * returns for each kind of input. test/cli/replay-cli.test.ts runs the same as a process.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { runReplay, type ReplayCommandOptions, type ReplaySummary } from '../../src/commands/replay.js';
import { Journal } from '../../src/violations/journal.js';
import { PMEM_PFN, Stream } from '../helpers/events.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxmon-replay-cmd-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}

function sink(): Writable & { text: string } {
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      w.text += chunk.toString();
      cb();
    },
  }) as Writable & { text: string };
  w.text = '';
  return w;
}

async function replayed(f: string, o: Partial<ReplayCommandOptions> = {}) {
  const out = sink();
  const err = sink();
  const code = await runReplay(f, {
    json: false,
    strict: false,
    failOnViolation: false,
    checkConfig: {},
    out,
    err,
    ...o,
  });
  return { code, out: out.text, err: err.text };
}

const freedWhileMapped = () =>
  new Stream('new').pgmap().insert(PMEM_PFN).map(PMEM_PFN, 1, 1).free(PMEM_PFN, 0, 1).ndjson();

describe('daxmon replay (the command)', () => {
  it('prints the summary; exit 0, or 1 for violations with --fail-on-violation', async () => {
    const f = file('v3.ndjson', freedWhileMapped());
    const plain = await replayed(f);
    expect(plain.code).toBe(0);
    expect(plain.out).toMatch(/^ {2}violations {2}1 \(free_while_mapped 1\)$/m);
    expect(plain.out).toMatch(/^ {4}v1 error free_while_mapped pfn 1310720: /m);
    expect((await replayed(f, { failOnViolation: true })).code).toBe(1);
  });

  it('--json prints the summary as JSON', async () => {
    const r = await replayed(file('json.ndjson', freedWhileMapped()), { json: true });
    const s = JSON.parse(r.out) as ReplaySummary;
    expect(s.kernel).toEqual({ release: '7.3.4+deb13-amd64', model: 'new' });
    expect(s.violations.byKind).toEqual({ free_while_mapped: 1 });
    expect(s.pgmaps).toHaveLength(1);
  });

  it('journals into --journal-dir, and the next replay continues its ids', async () => {
    const journalDir = path.join(dir, 'journal');
    const f = file('journaled.ndjson', freedWhileMapped());
    await replayed(f, { journalDir });
    const second = await replayed(f, { journalDir, json: true });
    expect((JSON.parse(second.out) as ReplaySummary).violations.items.map((v) => v.id)).toEqual(['v2']);
    const j = new Journal({ dir: journalDir });
    expect(j.open().violations.map((v) => v.id)).toEqual(['v1', 'v2']);
    j.close();
  });

  it('reports each bad line on stderr with its number and exits 3; unusable input exits 2', async () => {
    const lines = freedWhileMapped().split('\n');
    lines.splice(2, 0, '{"type":"folio_map"');
    const bad = await replayed(file('bad.ndjson', lines.join('\n')));
    expect(bad.code).toBe(3);
    expect(bad.err).toMatch(new RegExp(`^daxmon replay: ${dir}/bad\\.ndjson:3: `, 'm'));
    expect(bad.out).toMatch(/^ {2}bad lines {3}1$/m);

    const headerless = freedWhileMapped().split('\n').slice(1).join('\n');
    const unusable = await replayed(file('headerless.ndjson', headerless));
    expect(unusable.code).toBe(2);
    expect(unusable.err).toMatch(/^daxmon replay: .*pass --model old\|new$/m);
  });
});
