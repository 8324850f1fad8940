import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DaxmonError } from '../../src/errors.js';
import { Journal, nextIdAfter, readJournal } from '../../src/violations/journal.js';
import { journalFiles, journalLines, tempDir, violation } from './violation-fixture.js';

const REPO = path.resolve(__dirname, '../..');
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function dir(): string {
  const t = tempDir('daxmon-journal-');
  cleanups.push(t.cleanup);
  return t.dir;
}

function opened(d: string, opts: Partial<ConstructorParameters<typeof Journal>[0]> = {}): Journal {
  const j = new Journal({ dir: d, ...opts });
  j.open();
  return j;
}

function lastFile(d: string): string {
  return path.join(d, journalFiles(d).at(-1)!);
}

describe('the violation journal round-trips every update', () => {
  it('a new violation, its repeats and its clearing come back from readJournal with every field', () => {
    const d = dir();
    const j = opened(d);
    const v = violation(1);
    const original = structuredClone(v);
    j.write(v, 'new', 0);
    v.count = 2;
    v.lastT += 500;
    j.write(v, 'repeat', 10);
    v.clearedT = v.lastT + 1000;
    j.write(v, 'cleared', 20);
    j.close();

    const load = readJournal(d);
    expect(load).toMatchObject({ corruptLines: 0, tornTail: false, files: 1 });
    expect(load.violations).toEqual([{ ...original, count: 2, lastT: v.lastT, clearedT: v.clearedT }]);
    // The repeat was flushed before the clearing, so the file is in causal order.
    expect(journalLines(d).map((l) => l.op)).toEqual(['new', 'repeat', 'cleared']);
  });

  it('repeats are coalesced: one line per flush interval, and close() writes the latest count', () => {
    const d = dir();
    const j = opened(d, { repeatFlushMs: 1000 });
    const v = violation(1);
    j.write(v, 'new', 0);
    for (let now = 100; now <= 900; now += 100) {
      v.count++;
      j.write(v, 'repeat', now);
    }
    j.flushRepeats(1099); // the first repeat (at 100) is not a full interval old yet
    expect(journalLines(d).filter((l) => l.op === 'repeat')).toEqual([]);
    j.flushRepeats(1100);
    expect(journalLines(d).filter((l) => l.op === 'repeat')).toMatchObject([{ id: 'v1', count: 10 }]);

    for (let i = 0; i < 5; i++) {
      v.count++;
      j.write(v, 'repeat', 1200 + i);
    }
    j.close();
    const repeats = journalLines(d).filter((l) => l.op === 'repeat');
    expect(repeats.map((l) => l.count)).toEqual([10, 15]);
    expect(readJournal(d).violations[0]!.count).toBe(15);
  });

  it('ids continue after a reopen: nextIdAfter names the one after the highest journaled id', () => {
    const d = dir();
    const j = opened(d);
    for (const n of [1, 2, 9, 10]) j.write(violation(n), 'new');
    j.close();

    const again = new Journal({ dir: d });
    const load = again.open();
    expect(load.violations.map((v) => v.id)).toEqual(['v1', 'v2', 'v9', 'v10']);
    const next = nextIdAfter(load.violations);
    expect(next).toBe(11); // numeric, not lexical: v10 > v9
    again.write(violation(next), 'new');
    again.close();
    expect(readJournal(d).violations.map((v) => v.id)).toEqual(['v1', 'v2', 'v9', 'v10', 'v11']);
    expect(nextIdAfter([])).toBe(1);
  });
});

describe('the reader tolerates damage and reports it', () => {
  it('a torn last line (half a JSON record) is skipped and reported as tornTail, not as corruption', () => {
    const d = dir();
    const j = opened(d);
    j.write(violation(1), 'new');
    j.write(violation(2), 'new');
    j.close();
    const whole = JSON.stringify({ j: 1, op: 'new', v: violation(3) });
    fs.appendFileSync(lastFile(d), whole.slice(0, whole.length / 2));

    const load = readJournal(d);
    expect(load.violations.map((v) => v.id)).toEqual(['v1', 'v2']);
    expect(load).toMatchObject({ tornTail: true, corruptLines: 0 });
  });

  it('a corrupt line in the middle is counted in corruptLines and the lines around it still load', () => {
    const d = dir();
    const j = opened(d);
    j.write(violation(1), 'new');
    j.close();
    fs.appendFileSync(
      lastFile(d),
      'this is not json\n' + JSON.stringify({ j: 99, op: 'new', v: violation(7) }) + '\n',
    );
    const j2 = opened(d);
    j2.write(violation(2), 'new');
    j2.close();

    const load = readJournal(d);
    expect(load.violations.map((v) => v.id)).toEqual(['v1', 'v2']);
    expect(load).toMatchObject({ corruptLines: 2, tornTail: false });
  });

  it('after reopening a torn journal the next record still parses (a newline is written first)', () => {
    const d = dir();
    const j = opened(d);
    j.write(violation(1), 'new');
    j.close();
    fs.appendFileSync(lastFile(d), '{"j":1,"op":"new","v":{"id":"v2","ki');

    const j2 = new Journal({ dir: d });
    expect(j2.open().tornTail).toBe(true);
    j2.write(violation(3), 'new');
    j2.close();

    const load = readJournal(d);
    expect(load.violations.map((v) => v.id)).toEqual(['v1', 'v3']);
    // The torn record is now a finished (bad) line in the middle, no longer the tail.
    expect(load).toMatchObject({ tornTail: false, corruptLines: 1 });
  });

  it('a complete last record missing only its newline is kept, and the next record starts on its own line', () => {
    const d = dir();
    const j = opened(d);
    j.write(violation(1), 'new');
    j.close();
    fs.appendFileSync(lastFile(d), JSON.stringify({ j: 1, op: 'new', v: violation(2) }));

    const j2 = new Journal({ dir: d });
    expect(j2.open().violations.map((v) => v.id)).toEqual(['v1', 'v2']);
    j2.write(violation(3), 'new');
    j2.close();

    const load = readJournal(d);
    expect(load.violations.map((v) => v.id)).toEqual(['v1', 'v2', 'v3']);
    expect(load).toMatchObject({ tornTail: false, corruptLines: 0 });
  });
});

describe('rotation', () => {
  it('rotates at maxFileBytes, keeps at most maxFiles files, and the reader reads them in order', () => {
    const d = dir();
    // Records of equal size with multi-byte text (the limit is in bytes, not UTF-16 units): the
    // limit is set so that two records and the characters of a third fit, but not its bytes.
    const message = 'refcount ≥ idle → leaked '.repeat(12);
    const vs = Array.from({ length: 40 }, (_, i) => violation(i + 10, { message }));
    const line = JSON.stringify({ j: 1, op: 'new', v: vs[0] }) + '\n';
    const bytes = Buffer.byteLength(line);
    const maxFileBytes = 2 * bytes + line.length + Math.floor((bytes - line.length) / 2);
    const j = opened(d, { maxFileBytes, maxFiles: 3 });
    for (const v of vs) j.write(v, 'new');
    // A clearing of the newest violation lands in the newest file, after its 'new' line.
    vs[39]!.clearedT = vs[39]!.t + 1;
    j.write(vs[39]!, 'cleared');
    j.close();

    const files = journalFiles(d);
    expect(files.length).toBe(3);
    const numbers = files.map((f) => Number(/\d{6}/.exec(f)![0]));
    expect(numbers).toEqual([numbers[0], numbers[0]! + 1, numbers[0]! + 2]);
    expect(numbers[0]).toBeGreaterThan(1); // older files were deleted
    for (const f of files) expect(fs.statSync(path.join(d, f)).size).toBeLessThanOrEqual(maxFileBytes);

    const load = readJournal(d);
    expect(load.files).toBe(3);
    const ids = load.violations.map((v) => Number(v.id.slice(1)));
    expect(ids).toEqual([...ids].sort((a, b) => a - b)); // oldest file first
    expect(ids.at(-1)).toBe(49);
    expect(ids.length).toBeLessThan(40);
    expect(load.violations.at(-1)!.clearedT).toBe(vs[39]!.t + 1);
    expect(load.violations.at(-1)!.message).toBe(vs[39]!.message);
  });

  it('a clearing journaled in a later file applies to the violation recorded in an earlier one', () => {
    const d = dir();
    const j = opened(d, { maxFileBytes: 2048, maxFiles: 8 });
    const first = violation(1);
    j.write(first, 'new');
    for (let n = 2; n <= 6; n++) j.write(violation(n), 'new');
    first.clearedT = 123;
    j.write(first, 'cleared');
    j.close();
    expect(journalFiles(d).length).toBeGreaterThan(1);
    expect(readJournal(d).violations.find((v) => v.id === 'v1')!.clearedT).toBe(123);
  });

  it('reopening continues in the newest file', () => {
    const d = dir();
    const j = opened(d, { maxFileBytes: 2048 });
    for (let n = 1; n <= 5; n++) j.write(violation(n), 'new');
    j.close();
    const before = journalFiles(d);
    const j2 = opened(d, { maxFileBytes: 1 << 20 });
    j2.write(violation(6), 'new');
    j2.close();
    expect(journalFiles(d)).toEqual(before);
    expect(fs.readFileSync(path.join(d, before.at(-1)!), 'utf8')).toContain('"id":"v6"');
  });
});

describe('durability', () => {
  it('a violation written with fsync "always" survives SIGKILL right after the write returns', async () => {
    const d = dir();
    const v = violation(7, { clearedT: null, details: { samplePfns: [1, 2, 3] } });
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(__dirname, 'fixtures', 'write-then-hang.ts'), d, JSON.stringify(v)],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    // Whatever happens, the child does not outlive the test.
    const deadline = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const written = await new Promise<boolean>((resolve) => {
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('written\n')) {
          child.kill('SIGKILL');
          resolve(true);
        }
      });
      child.on('exit', () => resolve(false));
    });
    const exit = await exited;
    clearTimeout(deadline);
    expect(written, `child never said "written"; stderr: ${stderr}`).toBe(true);
    expect(exit.signal).toBe('SIGKILL');

    const load = readJournal(d);
    expect(load).toMatchObject({ corruptLines: 0, tornTail: false });
    expect(load.violations).toEqual([v]);
  });

  it('each new journal file is made durable in its directory too: the directory is fsynced', () => {
    const d = dir();
    const realSync = fs.fsyncSync.bind(fs);
    let dirSyncs = 0;
    // What the fd is, asked when it is synced (fd numbers are reused once closed).
    const syncSpy = vi.spyOn(fs, 'fsyncSync').mockImplementation((fd) => {
      if (fs.fstatSync(fd).isDirectory()) dirSyncs++;
      realSync(fd);
    });
    try {
      const j = opened(d, { fsync: 'always', maxFileBytes: 2048 });
      for (let n = 1; n <= 6; n++) j.write(violation(n), 'new');
      j.close();
      // One for the first file, one per rotation.
      expect(journalFiles(d).length).toBeGreaterThan(1);
      expect(dirSyncs).toBe(journalFiles(d).length);
    } finally {
      syncSpy.mockRestore();
    }
  });
});

describe('errors', () => {
  it('a journal directory that cannot be created is DAXMON_E_JOURNAL_DIR naming the directory', () => {
    const d = dir();
    const file = path.join(d, 'a-file');
    fs.writeFileSync(file, '');
    const bad = path.join(file, 'journal');
    const j = new Journal({ dir: bad });
    let err: unknown;
    try {
      j.open();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DaxmonError);
    expect(err).toMatchObject({ code: 'DAXMON_E_JOURNAL_DIR' });
    expect((err as Error).message).toContain(bad);
    expect((err as Error).message).toContain('--journal-dir');
  });

  it('reading a directory with no journal gives nothing, and no error', () => {
    expect(readJournal(dir())).toMatchObject({
      violations: [],
      records: 0,
      damagedRecords: 0,
      corruptLines: 0,
      tornTail: false,
      files: 0,
      nextId: 1,
    });
    expect(readJournal(path.join(dir(), 'missing'))).toMatchObject({ violations: [], files: 0 });
  });
});
