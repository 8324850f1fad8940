/**
 * The journal after the review of issue 13: one writer per directory, duplicates read as damage,
 * ids never reused after a full disk and a restart, dropped records marked, bad-shaped records
 * refused.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Fifo } from '../../src/violations/fifo.js';
import { encodeRecord, lineFor, parseJournal } from '../../src/violations/journal-format.js';
import { Journal, readJournal, type JournalFs } from '../../src/violations/journal.js';
import { journalLines, tempDir, violation } from './violation-fixture.js';

const REPO = path.resolve(__dirname, '../..');
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function dir(): string {
  const t = tempDir('daxmon-journal-review-');
  cleanups.push(t.cleanup);
  return t.dir;
}

function thrown(f: () => unknown): Error & { code?: string } {
  try {
    f();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

/**
 * node:fs on a disk that is full while `full` is set, as a real one: a write that needs a new
 * block (past the end of the file) fails with ENOSPC, an overwrite in place succeeds.
 */
function realisticFullDisk(): { fs: JournalFs; full: boolean } {
  const state = { full: false, fs: undefined as unknown as JournalFs };
  const write = fs.writeSync as (...a: unknown[]) => number;
  state.fs = {
    ...fs,
    writeSync: ((fd: number, buf: Buffer, off: number = 0, len?: number, pos?: number | null) => {
      const n = len ?? buf.length - off;
      const end = typeof pos === 'number' ? pos + n : Number.POSITIVE_INFINITY;
      if (state.full && end > fs.fstatSync(fd).size)
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      return typeof pos === 'number' ? write(fd, buf, off, n, pos) : write(fd, buf, off, n);
    }) as typeof fs.writeSync,
  };
  return state;
}

describe('review item 1: one writer per journal directory', () => {
  it('a second writer is refused with DAXMON_E_JOURNAL_DIR naming the pid; a dead holder’s lock is taken over', async () => {
    const d = dir();
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(REPO, 'test/violations/fixtures/write-then-hang.ts'),
        d,
        JSON.stringify(violation(1)),
      ],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (b: Buffer) => b.toString().includes('written') && resolve());
        child.on('exit', () => reject(new Error('child exited early')));
      });
      const e = thrown(() => new Journal({ dir: d }).open());
      expect(e.code).toBe('DAXMON_E_JOURNAL_DIR');
      expect(e.message).toContain(`in use by pid ${child.pid}; stop it or choose another --journal-dir`);
    } finally {
      const gone = new Promise((r) => child.on('exit', r));
      child.kill('SIGKILL');
      await gone;
    }
    // SIGKILL left the lock behind, with a pid that no longer runs: stale, taken over.
    const j = new Journal({ dir: d });
    expect(j.open().violations.map((v) => v.id)).toEqual(['v1']);
    // ...and held: a second Journal in this same process is a second writer too.
    expect(thrown(() => new Journal({ dir: d }).open()).message).toContain(`in use by pid ${process.pid}`);
    j.close();
    new Journal({ dir: d }).open(); // released by close()
  });

  it('the reader counts a repeated sequence number or a repeated new id as damage and keeps the first', () => {
    // Two writers that opened the same journal: both number from s=1 and hand out v1, v2.
    const a = [
      encodeRecord(1, { op: 'new', v: violation(1) }),
      encodeRecord(2, { op: 'new', v: violation(2) }),
    ];
    const b = [
      encodeRecord(1, { op: 'new', v: violation(1, { message: 'other writer' }) }),
      encodeRecord(2, { op: 'new', v: violation(2, { message: 'other writer' }) }),
    ];
    const load = parseJournal([{ text: a[0]! + b[0]! + a[1]! + b[1]! }]);
    expect(load.violations.map((v) => [v.id, v.message])).toEqual([
      ['v1', violation(1).message],
      ['v2', violation(2).message],
    ]);
    expect(load.damagedRecords).toBe(2);
    // A repeated id under fresh sequence numbers (a writer that started later) is damage too.
    const later = parseJournal([
      { text: a[0]! + encodeRecord(5, { op: 'new', v: violation(1, { message: 'again' }) }) },
    ]);
    expect(later.violations.map((v) => v.message)).toEqual([violation(1).message]);
    expect(later.damagedRecords).toBe(1);
  });
});

describe('review item 2: an id is never reused, even after a full disk and a restart', () => {
  it('ids handed out while the disk refused their records are not handed out again after the restart', () => {
    const d = dir();
    const disk = realisticFullDisk();
    const j = new Journal({ dir: d, fs: disk.fs });
    j.open();
    const v1 = violation(j.takeId());
    j.write(v1, 'new');
    disk.full = true;
    const lost = [j.takeId(), j.takeId()];
    expect(lost).toEqual([2, 3]);
    for (const n of lost) j.write(violation(n), 'new');
    expect(j.close()).toBe(2); // v2 and v3 never reached the disk
    disk.full = false;

    const again = new Journal({ dir: d, fs: disk.fs });
    const load = again.open();
    expect(load.violations.map((v) => v.id)).toEqual(['v1']);
    const next = again.takeId();
    expect(next).toBeGreaterThan(3);
    again.close();
  });

  it('a clean stop gives back the rest of the block; a crash skips at most one block', () => {
    const d = dir();
    const j = new Journal({ dir: d, idBlock: 10 });
    j.open();
    for (let i = 0; i < 25; i++) j.write(violation(j.takeId()), 'new'); // v1..v25, blocks crossed
    j.close();
    const j2 = new Journal({ dir: d, idBlock: 10 });
    j2.open();
    expect(j2.takeId()).toBe(26);
    j2.close();
  });
});

describe('review item 3: records dropped from a full backlog are counted and marked', () => {
  it('the drop is told once per episode, and a lost record tells the reader how many went', () => {
    const d = dir();
    const disk = realisticFullDisk();
    const drops: number[] = [];
    const j = new Journal({
      dir: d,
      fs: disk.fs,
      maxBacklogBytes: 4096,
      onDrop: (s) => drops.push(s.dropped),
    });
    j.open();
    j.write(violation(j.takeId()), 'new');
    disk.full = true;
    for (let i = 0; i < 20; i++) j.write(violation(j.takeId()), 'new');
    expect(j.droppedRecords).toBeGreaterThan(0);
    expect(drops).toEqual([1]);
    disk.full = false;
    j.write(violation(j.takeId()), 'new'); // (queued first: it may push out one more)
    expect(j.close()).toBe(0);
    const dropped = j.droppedRecords;
    expect(journalLines(d).filter((l) => l.op === 'lost')).toEqual([
      expect.objectContaining({ records: dropped, newRecords: dropped }),
    ]);
    const load = readJournal(d);
    expect(load.lostRecords).toBe(dropped);
    expect(load.damagedRecords).toBe(0);
    // Every id handed out counts in the 'new' records, so rotation headers stay a floor for ids.
    expect(load.newRecords).toBe(22);
  });

  it('the backlog is a FIFO with O(1) shift', () => {
    const q = new Fifo<number>();
    for (let i = 0; i < 5000; i++) q.push(i);
    for (let i = 0; i < 4000; i++) expect(q.shift()).toBe(i);
    q.push(5000);
    expect(q.length).toBe(1001);
    expect(q.peek()).toBe(4000);
  });
});

/** An object nested `depth` deep. */
function deep(depth: number): Record<string, unknown> {
  let o: Record<string, unknown> = {};
  for (let i = 0; i < depth; i++) o = { d: o };
  return o;
}

/** The line of a 'new' record whose details nest `depth` deep (too deep for JSON.stringify). */
export function deepRecordLine(seq: number, id: number, depth: number): string {
  const v = JSON.stringify({ op: 'new', v: violation(id, { details: { x: 1 } }) });
  return lineFor(seq, v.replace('{"x":1}', '{"d":'.repeat(depth) + '{}' + '}'.repeat(depth)));
}

describe('review item 4: a violation record of the wrong shape or depth is damage', () => {
  it('a record whose details nest 8,000 deep, or whose fields have the wrong types, is counted damaged and skipped', () => {
    const text =
      encodeRecord(1, { op: 'new', v: violation(1) }) +
      deepRecordLine(2, 2, 8000) +
      encodeRecord(3, { op: 'new', v: { ...violation(3), stack: 7 } as never }) +
      encodeRecord(4, { op: 'new', v: violation(4) });
    const load = parseJournal([{ text }]);
    expect(load.violations.map((v) => v.id)).toEqual(['v1', 'v4']);
    expect(load.damagedRecords).toBe(2);
  });

  it('the journal refuses to write such a record (replay cannot produce a journal its reader rejects)', () => {
    const d = dir();
    const j = new Journal({ dir: d });
    j.open();
    j.write(violation(1, { details: deep(8000) }), 'new');
    j.write(violation(2), 'new');
    j.close();
    expect(j.invalidRecords).toBe(1);
    const load = readJournal(d);
    expect(load.violations.map((v) => v.id)).toEqual(['v2']);
    expect(load.damagedRecords).toBe(0);
  });
});
