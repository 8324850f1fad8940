/**
 * The journal when the disk misbehaves (issue 13, items 5, 7, 8): checksummed records whose
 * damage is counted and whose ids stay reserved, start-up errors that name the path and the errno,
 * and a full disk that neither stops daxmon from starting nor loses what it raises meanwhile.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { crc32c } from '../../src/violations/crc32c.js';
import { encodeRecord, parseJournal } from '../../src/violations/journal-format.js';
import { Journal, readJournal, type JournalFs } from '../../src/violations/journal.js';
import { journalFiles, tempDir, violation } from './violation-fixture.js';

const REPO = path.resolve(__dirname, '../..');
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function dir(): string {
  const t = tempDir('daxmon-journal-rel-');
  cleanups.push(t.cleanup);
  return t.dir;
}

function lastFile(d: string): string {
  return path.join(d, journalFiles(d).at(-1)!);
}

function thrown(f: () => unknown): Error & { code?: string; cause?: unknown } {
  try {
    f();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

/** node:fs, but writes (and creating files) fail with ENOSPC while `full` is set. */
function fullDisk(): { fs: JournalFs; full: boolean; writes: number } {
  const state = { full: false, writes: 0, fs: undefined as unknown as JournalFs };
  const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  state.fs = {
    ...fs,
    writeSync: ((
      fd: number,
      ...rest: Parameters<typeof fs.writeSync> extends [number, ...infer R] ? R : never
    ) => {
      state.writes++;
      if (state.full) throw enospc();
      return (fs.writeSync as (...a: unknown[]) => number)(fd, ...rest);
    }) as typeof fs.writeSync,
    openSync: ((p: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode) => {
      if (state.full && flags === 'a' && !fs.existsSync(p)) throw enospc();
      return fs.openSync(p, flags ?? 'r', mode);
    }) as typeof fs.openSync,
  };
  return state;
}

describe('CRC32C', () => {
  it('is the Castagnoli checksum (the RFC 3720 check value of "123456789")', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(32))).toBe(0x8a9136aa);
  });
});

describe('item 7: every record is checksummed, damage is counted and never reuses an id', () => {
  it('the bit flip of the issue (v1000 → v1001) is a damaged record, not a different violation, and v1000 stays reserved', () => {
    const d = dir();
    const j = new Journal({ dir: d });
    j.open();
    for (let n = 998; n <= 1000; n++) j.write(violation(n), 'new');
    j.close();
    const f = lastFile(d);
    const bytes = fs.readFileSync(f);
    const at = bytes.indexOf('"id":"v1000"') + '"id":"v100'.length; // the last '0'
    bytes[at] = bytes[at]! ^ 0x01; // '0' → '1'
    fs.writeFileSync(f, bytes);

    const load = readJournal(d);
    expect(load.violations.map((v) => v.id)).toEqual(['v998', 'v999']);
    expect(load).toMatchObject({ damagedRecords: 1, corruptLines: 1, tornTail: false });
    // Above v1001 (the id the damaged text now shows) and above v1000 (what it was).
    expect(load.nextId).toBeGreaterThan(1001);
  });

  it('a flipped newline merges two records into one bad line: the sequence numbers count two', () => {
    const d = dir();
    const j = new Journal({ dir: d });
    j.open();
    for (let n = 1; n <= 5; n++) j.write(violation(n), 'new');
    j.close();
    const f = lastFile(d);
    const bytes = fs.readFileSync(f);
    let nl = -1;
    for (let k = 0; k < 2; k++) nl = bytes.indexOf(0x0a, nl + 1); // the newline after v2
    bytes[nl] = 0x2a; // '\n' ^ 0x20
    fs.writeFileSync(f, bytes);
    const load = readJournal(d);
    expect(load.violations.map((v) => v.id)).toEqual(['v1', 'v4', 'v5']);
    expect(load).toMatchObject({ damagedRecords: 2, corruptLines: 1 });
  });

  it('a journal of v1 lines (no checksum) is still read, and appending to it writes v2 records after them', () => {
    const d = dir();
    const v1 = [violation(1), violation(2)].map((v) => JSON.stringify({ j: 1, op: 'new', v }) + '\n');
    v1.push(JSON.stringify({ j: 1, op: 'cleared', id: 'v2', clearedT: 77 }) + '\n');
    fs.writeFileSync(path.join(d, 'violations-000001.ndjson'), v1.join(''));
    const j = new Journal({ dir: d });
    const first = j.open();
    expect(first).toMatchObject({ legacyRecords: 3, damagedRecords: 0, nextId: 3 });
    j.write(violation(3), 'new');
    j.close();
    const text = fs.readFileSync(lastFile(d), 'utf8');
    expect(text.split('\n')[3]).toMatch(/^\{"j":2,"s":1,"op":"new",.*,"c":"[0-9a-f]{8}"\}$/);
    const load = readJournal(d);
    expect(load.violations.map((v) => [v.id, v.clearedT])).toEqual([
      ['v1', null],
      ['v2', 77],
      ['v3', null],
    ]);
    expect(load).toMatchObject({ legacyRecords: 3, records: 4, damagedRecords: 0 });
  });

  it('a line claiming v2 without a valid checksum is damage, not a v1 record', () => {
    const good = encodeRecord(1, { op: 'new', v: violation(1) });
    const noCrc = JSON.stringify({ j: 2, s: 2, op: 'new', v: violation(2) });
    const badCrc = encodeRecord(3, { op: 'new', v: violation(3) }).replace(
      /"c":"[0-9a-f]{8}"/,
      '"c":"00000000"',
    );
    const load = parseJournal([{ text: good + noCrc + '\n' + badCrc }]);
    expect(load.violations.map((v) => v.id)).toEqual(['v1']);
    expect(load).toMatchObject({ damagedRecords: 2, tornTail: false });
    expect(load.nextId).toBeGreaterThan(3);
  });

  it('a damaged newest record reserves its id: the next violation after a restart does not reuse it', () => {
    const d = dir();
    const j = new Journal({ dir: d });
    j.open();
    j.write(violation(1), 'new');
    j.write(violation(2), 'new');
    j.close();
    const f = lastFile(d);
    const bytes = fs.readFileSync(f);
    // A flip in the id digit itself: v2 → v0 (0x32 ^ 0x02); the checksum catches it.
    const at = bytes.lastIndexOf('"id":"v2"') + '"id":"v'.length;
    bytes[at] = bytes[at]! ^ 0x02;
    fs.writeFileSync(f, bytes);
    const j2 = new Journal({ dir: d });
    const load = j2.open();
    expect(load.violations.map((v) => v.id)).toEqual(['v1']);
    expect(load.damagedRecords).toBe(1);
    expect(load.nextId).toBe(3);
    j2.close();
  });

  it('rotation writes a header with the count of older violations, so the files left say how many were rotated out', () => {
    const d = dir();
    const j = new Journal({ dir: d, maxFileBytes: 4096, maxFiles: 2 });
    j.open();
    for (let n = 1; n <= 30; n++) j.write(violation(n), 'new');
    j.close();
    const load = readJournal(d);
    expect(load.files).toBe(2);
    const first = Number(load.violations[0]!.id.slice(1));
    expect(first).toBeGreaterThan(1);
    expect(load.rotatedOut).toBe(first - 1);
    expect(load.newRecords).toBe(30);
    expect(load).toMatchObject({ damagedRecords: 0, missingRecords: 0 });
  });
});

describe('item 5: a journal that cannot be read or written is DAXMON_E_JOURNAL_DIR with the path and the errno', () => {
  it('--journal-dir /proc/self (exists, but no file can be created in it)', () => {
    const e = thrown(() => new Journal({ dir: '/proc/self' }).open());
    expect(e.code).toBe('DAXMON_E_JOURNAL_DIR');
    expect(e.message).toContain('/proc/self/violations-000001.ndjson');
    expect(e.message).toMatch(/\b(ENOENT|EACCES|EPERM)\b/);
  });

  it('a file where the directory should be (ENOTDIR/EEXIST), and a directory under a file', () => {
    const d = dir();
    const file = path.join(d, 'a-file');
    fs.writeFileSync(file, '');
    const e1 = thrown(() => new Journal({ dir: file }).open());
    expect(e1.code).toBe('DAXMON_E_JOURNAL_DIR');
    expect(e1.message).toContain(file);
    expect(e1.message).toMatch(/\b(EEXIST|ENOTDIR)\b/);
    const e2 = thrown(() => new Journal({ dir: path.join(file, 'sub') }).open());
    expect(e2.message).toMatch(/\bENOTDIR\b/);
  });

  it('a journal file that cannot be read (a directory by that name: EISDIR) stops start-up instead of restarting at v1', () => {
    const d = dir();
    const j = new Journal({ dir: d });
    j.open();
    j.write(violation(1), 'new');
    j.close();
    fs.mkdirSync(path.join(d, 'violations-000002.ndjson'));
    const e = thrown(() => new Journal({ dir: d }).open());
    expect(e.code).toBe('DAXMON_E_JOURNAL_DIR');
    expect(e.message).toContain(path.join(d, 'violations-000002.ndjson'));
    expect(e.message).toContain('EISDIR');
  });

  it('a directory that cannot be listed (injected EACCES) is an error, not an empty journal', () => {
    const d = dir();
    const j = new Journal({ dir: d });
    j.open();
    j.write(violation(1), 'new');
    j.close();
    const denied: JournalFs = {
      ...fs,
      readdirSync: (() => {
        throw Object.assign(new Error(`EACCES: permission denied, scandir '${d}'`), { code: 'EACCES' });
      }) as unknown as typeof fs.readdirSync,
    };
    const e = thrown(() => new Journal({ dir: d, fs: denied }).open());
    expect(e.code).toBe('DAXMON_E_JOURNAL_DIR');
    expect(e.message).toContain(d);
    expect(e.message).toContain('EACCES');
  });

  // Root bypasses file modes: the mode cases run the journal in a child process as `nobody`.
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => fs.existsSync(p));
  const asNobody = process.getuid?.() === 0 && setpriv !== undefined;
  const why = setpriv ? 'not running as root (cannot switch to nobody)' : 'setpriv is not installed';
  it.skipIf(!asNobody)(
    `as nobody: a directory of mode 0300 (not readable), and one of 0500 with a file of 0400 (not writable)${asNobody ? '' : ` — skipped: ${why}`}`,
    () => {
      // A world-searchable parent, so nobody reaches the journal directories at all.
      const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'daxmon-nobody-'));
      cleanups.push(() => fs.rmSync(parent, { recursive: true, force: true }));
      fs.chmodSync(parent, 0o755);
      const run = (d: string) => {
        const r = spawnSync(
          setpriv!,
          [
            '--reuid=65534',
            '--regid=65534',
            '--clear-groups',
            process.execPath,
            '--import',
            'tsx',
            path.join(__dirname, 'fixtures', 'open-journal.ts'),
            d,
          ],
          { cwd: REPO, encoding: 'utf8', timeout: 60_000 },
        );
        expect(r.status, r.stderr).toBe(0);
        return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
          ok: boolean;
          code?: string;
          message?: string;
        };
      };
      for (const [mode, errno] of [
        [0o300, 'EACCES'],
        [0o500, 'EACCES'],
      ] as const) {
        const d = path.join(parent, `mode-${mode.toString(8)}`);
        fs.mkdirSync(d);
        const j = new Journal({ dir: d });
        j.open();
        j.write(violation(1), 'new');
        j.close();
        fs.chownSync(d, 65534, 65534);
        for (const f of fs.readdirSync(d)) fs.chownSync(path.join(d, f), 65534, 65534);
        fs.chmodSync(d, mode);
        if (mode === 0o500) for (const f of fs.readdirSync(d)) fs.chmodSync(path.join(d, f), 0o400);
        const r = run(d);
        expect(r, `mode ${mode.toString(8)}`).toMatchObject({ ok: false, code: 'DAXMON_E_JOURNAL_DIR' });
        expect(r.message).toContain(d);
        expect(r.message).toContain(errno);
        fs.chmodSync(d, 0o700);
        // Nothing was written: v1 is still the only record, and the next id is v2.
        expect(readJournal(d)).toMatchObject({ records: 1, nextId: 2 });
      }
    },
  );
});

describe('item 8: a full disk', () => {
  it('a torn last record on a full disk: open() succeeds, serves what is journaled, and writes nothing to the journal files', () => {
    const d = dir();
    const j = new Journal({ dir: d });
    j.open();
    j.write(violation(1), 'new');
    j.write(violation(2), 'new');
    j.close();
    fs.appendFileSync(lastFile(d), encodeRecord(3, { op: 'new', v: violation(3) }).slice(0, 50));
    const before = fs.readFileSync(lastFile(d));
    const disk = fullDisk();
    disk.full = true;
    const j2 = new Journal({ dir: d, fs: disk.fs });
    const load = j2.open();
    expect(load.violations.map((v) => v.id)).toEqual(['v1', 'v2']);
    expect(load.tornTail).toBe(true);
    expect(load.nextId).toBe(4); // the torn record was v3
    // (the only write tried is the id reservation in ids.reserve, which this mock refuses too)
    expect(fs.readFileSync(lastFile(d))).toEqual(before);
    j2.close();
  });

  it('keeps new records in memory while the disk is full, counts the failures, and writes them in order when space returns', () => {
    const d = dir();
    const disk = fullDisk();
    const states: boolean[] = [];
    const j = new Journal({ dir: d, fs: disk.fs, onWriteState: (s) => states.push(s.failing) });
    j.open();
    j.write(violation(1), 'new');
    disk.full = true;
    const v2 = violation(2);
    j.write(v2, 'new');
    v2.clearedT = 99;
    j.write(v2, 'cleared');
    j.write(violation(3), 'new');
    expect(j.pending).toBe(3);
    expect(j.writeErrors).toBe(3);
    expect(readJournal(d).violations.map((v) => v.id)).toEqual(['v1']);
    j.flushRepeats(); // the daemon's 1 s tick retries
    expect(j.writeErrors).toBe(4);
    disk.full = false;
    j.flushRepeats();
    expect(j.pending).toBe(0);
    expect(states).toEqual([true, false]);
    const load = readJournal(d);
    expect(load.violations.map((v) => [v.id, v.clearedT])).toEqual([
      ['v1', null],
      ['v2', 99],
      ['v3', null],
    ]);
    expect(load).toMatchObject({ damagedRecords: 0, missingRecords: 0, tornTail: false });
    j.close();
  });

  it('half a record written before ENOSPC is taken back, so the retry leaves no damage', () => {
    const d = dir();
    let failNext = false;
    const halfFs: JournalFs = {
      ...fs,
      writeSync: ((fd: number, buf: Buffer, off = 0) => {
        if (!failNext) return fs.writeSync(fd, buf, off);
        if (off === 0) return fs.writeSync(fd, buf, 0, Math.floor(buf.length / 2));
        failNext = false;
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }) as typeof fs.writeSync,
    };
    const j = new Journal({ dir: d, fs: halfFs });
    j.open();
    j.write(violation(1), 'new');
    failNext = true;
    j.write(violation(2), 'new');
    expect(j.pending).toBe(1);
    j.write(violation(3), 'new');
    j.close();
    const load = readJournal(d);
    expect(load.violations.map((v) => v.id)).toEqual(['v1', 'v2', 'v3']);
    expect(load).toMatchObject({ damagedRecords: 0, corruptLines: 0, missingRecords: 0 });
  });

  it('the backlog is bounded: beyond maxBacklogBytes the oldest waiting records are dropped and counted', () => {
    const d = dir();
    const disk = fullDisk();
    const one = JSON.stringify({ op: 'new', v: violation(1) }).length;
    const j = new Journal({ dir: d, fs: disk.fs, maxBacklogBytes: one * 3 + 10 });
    j.open();
    disk.full = true;
    for (let n = 1; n <= 10; n++) j.write(violation(n), 'new');
    expect(j.pending).toBe(3);
    expect(j.droppedRecords).toBe(7);
    disk.full = false;
    expect(j.close()).toBe(0);
    expect(readJournal(d).violations.map((v) => v.id)).toEqual(['v8', 'v9', 'v10']);
  });

  it('a journal directory that has no room for its first file: open() succeeds and the file is created later', () => {
    const d = dir();
    const disk = fullDisk();
    disk.full = true;
    const j = new Journal({ dir: d, fs: disk.fs });
    expect(j.open().violations).toEqual([]);
    j.write(violation(1), 'new');
    expect(journalFiles(d)).toEqual([]);
    disk.full = false;
    j.write(violation(2), 'new');
    j.close();
    expect(readJournal(d).violations.map((v) => v.id)).toEqual(['v1', 'v2']);
  });

  // End to end on a real full filesystem: a 64 KiB tmpfs (needs root and mount permission).
  const mountable = (() => {
    if (process.getuid?.() !== 0 || process.platform !== 'linux') return 'not root';
    const probe = fs.mkdtempSync(path.join(os.tmpdir(), 'daxmon-mount-probe-'));
    try {
      const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { encoding: 'utf8' });
      if (r.status !== 0)
        return `mount -t tmpfs not permitted: ${(r.stderr || r.error?.message || '').trim()}`;
      spawnSync('umount', [probe]);
      return null;
    } finally {
      fs.rmSync(probe, { recursive: true, force: true });
    }
  })();
  it.skipIf(mountable !== null)(
    `on a full 64 KiB tmpfs: starts, serves, keeps new records, resumes when space returns${mountable ? ` — skipped: ${mountable}` : ''}`,
    () => {
      const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'daxmon-tmpfs-'));
      expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]).status).toBe(0);
      cleanups.push(() => {
        // Lazy: a descriptor a failed assertion left open must not keep the mount.
        spawnSync('umount', ['-l', mnt]);
        fs.rmSync(mnt, { recursive: true, force: true });
      });
      const d = path.join(mnt, 'journal');
      // Something else fills half the disk; deleting it later is the space coming back.
      const filler = path.join(mnt, 'filler');
      fs.writeFileSync(filler, Buffer.alloc(32 << 10));
      const j = new Journal({ dir: d });
      j.open();
      let n = 0;
      while (j.pending === 0 && n < 1000) j.write(violation(++n, { message: 'x'.repeat(2000) }), 'new');
      expect(j.pending).toBe(1); // the disk is full: the record waits
      expect(j.writeErrors).toBeGreaterThan(0);
      expect(j.close()).toBe(1); // still refused: the caller logs it as lost
      // Restart on the full disk: it opens (no ENOSPC), and serves the records that fit.
      const j2 = new Journal({ dir: d });
      const load = j2.open();
      expect(load.violations.length).toBe(n - 1);
      expect(load).toMatchObject({ damagedRecords: 0, corruptLines: 0 });
      j2.write(violation(load.nextId, { message: 'x'.repeat(2000) }), 'new');
      expect(j2.pending).toBe(1);
      // Space returns: the next flush (the daemon's 1 s tick) writes the waiting record.
      fs.rmSync(filler);
      j2.flushRepeats();
      expect(j2.pending).toBe(0);
      j2.close();
      const after = readJournal(d);
      expect(after.violations.length).toBe(n);
      expect(after.violations.at(-1)!.id).toBe(`v${load.nextId}`);
      expect(after).toMatchObject({ damagedRecords: 0, corruptLines: 0, tornTail: false });
    },
  );
});
