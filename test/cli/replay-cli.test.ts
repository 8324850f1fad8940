/**
 * `daxmon replay` and the CLI's handling of user mistakes, run as the user runs them: a daxmon
 * process (src/ compiled, see compiled-cli.ts) on files in a temporary directory.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PMEM_PFN, Stream } from '../helpers/events.js';
import { compileCli, REPO, type CompiledCli } from './compiled-cli.js';

let compiled: CompiledCli;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run daxmon (compiled), or with `viaTsx` the sources as developers do: node --import tsx src/cli.ts. */
function daxmon(args: string[], input?: string, viaTsx = false, uid?: number): Promise<Ran> {
  const entry = viaTsx ? ['--import', 'tsx', path.join(REPO, 'src', 'cli.ts')] : [compiled.cli];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...entry, ...args], {
      cwd: REPO,
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(uid !== undefined ? { uid, gid: uid } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const deadline = setTimeout(() => child.kill('SIGKILL'), 18_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(deadline);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

const NO_STACK = /^\s+at /m;

let dir: string;
const file = (name: string) => path.join(dir, name);

/** Four healthy new-model page lifecycles on pm0. */
function healthy(): Stream {
  const s = new Stream('new').pgmap();
  for (let i = 0; i < 4; i++) s.healthyPage(PMEM_PFN + i);
  return s;
}
/** A new-model FS DAX folio mapped with refcount 0: one map_zero_ref. */
function zeroRefMap(): Stream {
  return new Stream('new').pgmap().insert(PMEM_PFN).map(PMEM_PFN, 0, 1);
}

beforeAll(async () => {
  compiled = await compileCli();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxmon-cli-'));
  const h = healthy();
  fs.writeFileSync(file('healthy.ndjson'), h.ndjson());
  fs.writeFileSync(file('violation.ndjson'), zeroRefMap().ndjson());
  fs.writeFileSync(file('headerless.ndjson'), h.events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  fs.writeFileSync(file('schema2.ndjson'), h.ndjson().replace('"schema":1', '"schema":2'));
  // Lines 3 and 5 are bad (not JSON; not an event); the rest is good.
  const lines = h.ndjson().trimEnd().split('\n');
  lines.splice(2, 0, '{"type":"folio_map",');
  lines.splice(4, 0, '{"type":"no_such_event","t":1,"pid":1,"comm":"x"}');
  fs.writeFileSync(file('malformed.ndjson'), lines.join('\n') + '\n');
  fs.mkdirSync(file('a-directory'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  compiled?.cleanup();
});

describe.concurrent('daxmon replay', () => {
  it('a healthy stream: exit 0 (even with --fail-on-violation) and a summary of events, pgmaps, violations', async () => {
    const r = await daxmon(['replay', '--fail-on-violation', file('healthy.ndjson')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`events      ${healthy().events.length}`);
    expect(r.stdout).toContain('pm0 fs_dax');
    expect(r.stdout).toContain('violations  0');
  });

  it('violations exit 0, or 1 with --fail-on-violation', async () => {
    const [plain, failing] = await Promise.all([
      daxmon(['replay', file('violation.ndjson')]),
      daxmon(['replay', '--fail-on-violation', file('violation.ndjson')]),
    ]);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain('v1 error map_zero_ref');
    expect(failing.code).toBe(1);
    expect(failing.stdout).toContain('v1 error map_zero_ref');
  });

  it('--json prints a summary that parses, with events, pgmaps, folios and violations', async () => {
    const r = await daxmon(['replay', '--json', file('violation.ndjson')]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as {
      events: { total: number; byType: Record<string, number> };
      pgmaps: { id: string; type: string }[];
      folios: { tracked: number; byState: Record<string, number> };
      violations: { total: number; byKind: Record<string, number>; items: { id: string; pfn: number }[] };
      kernel: { model: string };
    };
    expect(s.events).toEqual({
      total: 3,
      byType: { pgmap_registered: 1, dax_entry_insert: 1, folio_map: 1 },
    });
    expect(s.pgmaps).toMatchObject([{ id: 'pm0', type: 'fs_dax' }]);
    expect(s.folios).toMatchObject({ tracked: 1, byState: { mapped: 1 } });
    expect(s.violations).toMatchObject({
      total: 1,
      byKind: { map_zero_ref: 1 },
      items: [{ id: 'v1', pfn: PMEM_PFN }],
    });
    expect(s.kernel.model).toBe('new');
  });

  it('malformed lines: exit 3, each bad line number on stderr, the rest still replayed', async () => {
    const r = await daxmon(['replay', '--json', file('malformed.ndjson')]);
    expect(r.code).toBe(3);
    const bad = r.stderr
      .split('\n')
      .filter(Boolean)
      .map((l) => /malformed\.ndjson:(\d+): /.exec(l)?.[1]);
    expect(bad).toEqual(['3', '5']);
    expect(JSON.parse(r.stdout)).toMatchObject({
      events: { total: healthy().events.length },
      inputErrors: { count: 2, first: [{ line: 3 }, { line: 5 }] },
    });
  });

  it('--strict stops at the first bad line', async () => {
    const r = await daxmon(['replay', '--strict', '--json', file('malformed.ndjson')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('malformed.ndjson:3:');
    expect(r.stderr).not.toContain('malformed.ndjson:5:');
    const s = JSON.parse(r.stdout) as { events: { total: number }; fatal: string };
    expect(s.events.total).toBe(1); // only line 2 came before the bad line 3
    expect(s.fatal).toContain('--strict');
  });

  it('"-" reads the stream from stdin; --model overrides the header', async () => {
    const r = await daxmon(['replay', '--json', '--model', 'old', '-'], zeroRefMap().ndjson());
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      file: '-',
      kernel: { release: '7.3.4+deb13-amd64', model: 'old' },
      events: { total: 3 },
      violations: { byKind: { map_zero_ref: 1 } },
    });
  });

  it('--model supplies the model of a headerless stream; without it the stream is unusable (exit 2)', async () => {
    const [withModel, without] = await Promise.all([
      daxmon(['replay', '--json', '--model', 'new', file('headerless.ndjson')]),
      daxmon(['replay', file('headerless.ndjson')]),
    ]);
    expect(withModel.stderr).toBe('');
    expect(withModel.code).toBe(0);
    expect(JSON.parse(withModel.stdout)).toMatchObject({
      kernel: { model: 'new' },
      events: { total: healthy().events.length },
      inputErrors: { count: 0 },
    });
    expect(without.code).toBe(2);
    expect(without.stderr).toContain('--model');
    const strict = await daxmon([
      'replay',
      '--strict',
      '--model',
      'old',
      '--json',
      file('headerless.ndjson'),
    ]);
    expect(strict.code).toBe(0);
    expect(JSON.parse(strict.stdout)).toMatchObject({
      kernel: { model: 'old' },
      events: { total: healthy().events.length },
    });
  });

  it('an unsupported schema version is unusable input: exit 2, with or without --strict', async () => {
    const [plain, strict] = await Promise.all([
      daxmon(['replay', file('schema2.ndjson')]),
      daxmon(['replay', '--strict', file('schema2.ndjson')]),
    ]);
    for (const r of [plain, strict]) {
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('unsupported schema version 2');
      expect(r.stderr).not.toMatch(NO_STACK);
    }
  });

  it('a missing file or a directory: exit 2 with DAXMON_E_INPUT and no stack trace', async () => {
    const [missing, directory] = await Promise.all([
      daxmon(['replay', file('nope.ndjson')]),
      daxmon(['replay', file('a-directory')]),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^daxmon: DAXMON_E_INPUT: .*nope\.ndjson: no such file/);
    expect(missing.stderr).not.toMatch(NO_STACK);
    expect(directory.code).toBe(2);
    expect(directory.stderr).toMatch(/^daxmon: DAXMON_E_INPUT: .*is a directory/);
  });

  it('--journal-dir journals the violations, and a second replay continues the ids', async () => {
    const journal = file('journal');
    const first = await daxmon(['replay', '--journal-dir', journal, file('violation.ndjson')]);
    expect(first.code).toBe(0);
    const second = await daxmon(['replay', '--json', '--journal-dir', journal, file('violation.ndjson')]);
    expect(JSON.parse(second.stdout)).toMatchObject({ violations: { items: [{ id: 'v2' }] } });
    const lines = fs
      .readdirSync(journal)
      .filter((f) => f.endsWith('.ndjson'))
      .flatMap((f) => fs.readFileSync(path.join(journal, f), 'utf8').trim().split('\n'))
      .map((l) => JSON.parse(l) as { op: string; v: { id: string; kind: string } });
    expect(lines.map((l) => [l.op, l.v.id, l.v.kind])).toEqual([
      ['new', 'v1', 'map_zero_ref'],
      ['new', 'v2', 'map_zero_ref'],
    ]);
  });
});

describe.concurrent('unusable input says its cause, with its code (issue 13, item 3)', () => {
  const NOBODY = 65534;
  const asRoot = process.getuid?.() === 0;

  it('a file that cannot be read: DAXMON_E_INPUT naming EACCES, exit 2, not an internal error', async () => {
    // Root reads any file: the file is then read by daxmon running as nobody.
    const where = fs.mkdtempSync(path.join(os.tmpdir(), 'daxmon-unreadable-'));
    const f = path.join(where, 'unreadable.ndjson');
    fs.writeFileSync(f, healthy().ndjson());
    fs.chmodSync(f, 0o000);
    if (asRoot) {
      fs.chmodSync(where, 0o755);
      fs.chmodSync(compiled.root, 0o755);
    }
    const r = await daxmon(['replay', f], undefined, false, asRoot ? NOBODY : undefined);
    fs.rmSync(where, { recursive: true, force: true });
    expect(r.stderr).toBe(
      `daxmon: DAXMON_E_INPUT: ${f}: permission denied (EACCES); run as a user who may read it, or chmod it\n`,
    );
    expect(r.code).toBe(2);
  });

  it('schema 2: the last line is the schema, with DAXMON_E_INPUT_SCHEMA, not "no header naming the refcount model"', async () => {
    const r = await daxmon(['replay', file('schema2.ndjson')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toBe(
      'daxmon replay: DAXMON_E_INPUT_SCHEMA: line 1: unsupported schema version 2: this daxmon reads schema 1',
    );
    expect(r.stderr + r.stdout).not.toContain('no header naming');
  });

  it('a binary recording with an impossible header length: DAXMON_E_INPUT_HEADER', async () => {
    const f = file('bad-length.dxb');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(0x7fffffff);
    fs.writeFileSync(f, Buffer.concat([Buffer.from('DAXMONB1', 'latin1'), len, Buffer.from('{}')]));
    const r = await daxmon(['replay', f]);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toBe(
      'daxmon replay: DAXMON_E_INPUT_HEADER: line 1: header length 2147483647 is larger than 65536: not a daxmon recording',
    );
  });

  it('a headerless stream without --model: DAXMON_E_INPUT_NO_MODEL; empty input: DAXMON_E_INPUT_EMPTY', async () => {
    const [headerless, empty, bom] = await Promise.all([
      daxmon(['replay', file('headerless.ndjson')]),
      daxmon(['replay', '-'], ''),
      daxmon(['replay', '-'], '\uFEFF'),
    ]);
    expect(bom.code).toBe(2);
    expect(bom.stderr.trimEnd().split('\n').at(-1)).toBe(
      'daxmon replay: DAXMON_E_INPUT_EMPTY: empty input: no header line',
    );
    expect(headerless.code).toBe(2);
    expect(headerless.stderr.trimEnd().split('\n').at(-1)).toBe(
      'daxmon replay: DAXMON_E_INPUT_NO_MODEL: the stream has no header naming the refcount model: pass --model old|new',
    );
    expect(empty.code).toBe(2);
    expect(empty.stderr.trimEnd().split('\n').at(-1)).toBe(
      'daxmon replay: DAXMON_E_INPUT_EMPTY: empty input: no header line',
    );
  });
});

describe('the sources', () => {
  it('node --import tsx src/cli.ts replays exactly as the compiled CLI does', async () => {
    const args = ['replay', '--json', '--fail-on-violation', file('violation.ndjson')];
    const [tsx, built] = await Promise.all([daxmon(args, undefined, true), daxmon(args)]);
    expect(tsx.code).toBe(1);
    expect(built.code).toBe(1);
    const strip = (out: string) => ({ ...JSON.parse(out), seconds: 0, eventsPerSecond: 0 }) as unknown;
    const a = strip(tsx.stdout) as { violations: { items: { time: string }[] } };
    const b = strip(built.stdout) as typeof a;
    for (const x of [a, b]) for (const v of x.violations.items) v.time = '';
    expect(a).toEqual(b);
  });
});

describe.concurrent('usage', () => {
  it('--help of every command exits 0 and names its options', async () => {
    const expected: Record<string, string[]> = {
      run: [
        '--listen',
        '--backend',
        '--journal-dir',
        '--fsync',
        '--duration',
        '--idle-mismatch-seconds',
        '--record-format',
      ],
      record: ['--out', '--record-format'],
      replay: [
        '--json',
        '--strict',
        '--fail-on-violation',
        '--model',
        '--journal-dir',
        '--busy-wait-stuck-seconds',
      ],
      doctor: ['--json', '--model'],
      lab: ['--kernel', '--fs', '--pmem', '--duration'],
    };
    const runs = await Promise.all(Object.keys(expected).map((cmd) => daxmon([cmd, '--help'])));
    Object.keys(expected).forEach((cmd, i) => {
      const r = runs[i]!;
      expect(r.code, cmd).toBe(0);
      expect(r.stdout, cmd).toContain(`Usage: daxmon ${cmd}`);
      for (const opt of expected[cmd]!) expect(r.stdout, `${cmd} --help`).toContain(opt);
    });
    const main = await daxmon(['--help']);
    expect(main.code).toBe(0);
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
    expect(main.stdout.startsWith(`daxmon ${pkg.version} — `)).toBe(true);
    for (const cmd of Object.keys(expected)) expect(main.stdout).toContain(`  ${cmd} `);
  });

  it.each([
    [['frobnicate'], /unknown command "frobnicate"/],
    [['replay', '--bogus', 'x.ndjson'], /--bogus[\s\S]*daxmon replay --help/],
    [['run', '--bogus'], /--bogus[\s\S]*daxmon run --help/],
    [['doctor', '--verbose'], /--verbose[\s\S]*daxmon doctor --help/],
    [['replay'], /takes one FILE \(got 0\)/],
    [['replay', 'a.ndjson', 'b.ndjson'], /takes one FILE \(got 2\)/],
    [['replay', '--model', 'ancient', '-'], /--model must be one of old, new/],
    [['replay', '--idle-mismatch-seconds', 'soon', '-'], /--idle-mismatch-seconds must be a number/],
    [['run', '--listen', 'nowhere'], /--listen must be HOST:PORT/],
    [['run', '--no-journal', '--journal-dir', '/tmp/x'], /--no-journal and --journal-dir/],
    [['record'], /needs --out FILE/],
    [['run', '--record-format', 'binary'], /--record-format needs --record FILE/],
    [
      ['record', '--out', '/tmp/x.dxb', '--record-format', 'json'],
      /--record-format must be one of ndjson, binary/,
    ],
    // An empty value (an unset shell variable) used to turn the journal, the recording or the
    // token off silently (issue 13, item 6).
    [
      ['run', '--backend', 'none', '--listen', '127.0.0.1:0', '--journal-dir', ''],
      /^daxmon: DAXMON_E_USAGE: --journal-dir '' is empty: name a directory, or give --no-journal to keep violations in memory only$/m,
    ],
    [['replay', '--journal-dir', '', '-'], /--journal-dir '' is empty/],
    [
      ['run', '--backend', 'none', '--listen', '127.0.0.1:0', '--no-journal', '--record', ''],
      /--record '' is empty/,
    ],
    [
      ['run', '--backend', 'none', '--listen', '127.0.0.1:0', '--no-journal', '--api-token-file', ''],
      /--api-token-file '' is empty/,
    ],
    [['run', '--backend', 'none', '--no-journal', '--listen', ''], /--listen '' is empty/],
    [['replay', ''], /FILE is empty/],
  ])('%j is DAXMON_E_USAGE, exit 2, without a stack trace', async (args, message) => {
    const r = await daxmon(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^daxmon: DAXMON_E_USAGE: /);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(NO_STACK);
    expect(r.stderr).not.toContain('internal error');
  });
});
