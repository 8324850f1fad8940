/**
 * The durable violation journal: append-only NDJSON files in a directory, written synchronously
 * (and fsynced by policy) before a violation is shown anywhere else, so that a daemon killed right
 * after raising one loses nothing it acknowledged. Size-based rotation keeps a bounded number of
 * files. The reader tolerates a torn last line (a crash mid-write) and reports other damage.
 *
 * Line format (one JSON object per line, `j` is the journal schema version):
 *   {"j":1,"op":"new","v":{…Violation…}}
 *   {"j":1,"op":"repeat","id":"v7","count":12,"lastT":…}
 *   {"j":1,"op":"cleared","id":"v7","clearedT":…}
 */
import fs from 'node:fs';
import path from 'node:path';
import { DaxmonError } from '../errors.js';
import type { Violation, ViolationUpdate } from './violation.js';

export type FsyncPolicy = 'always' | 'interval' | 'never';

export interface JournalOptions {
  dir: string;
  fsync?: FsyncPolicy;
  /** With fsync 'interval': at most this long between a write and its fsync. */
  fsyncIntervalMs?: number;
  maxFileBytes?: number;
  maxFiles?: number;
  /** Repeat counts are coalesced: written at most this often per violation. */
  repeatFlushMs?: number;
}

export interface JournalLoad {
  violations: Violation[];
  /** Lines that could not be used (not counting a torn last line). */
  corruptLines: number;
  tornTail: boolean;
  files: number;
}

const FILE_RE = /^violations-(\d{6})\.ndjson$/;
const J = 1;

export class Journal {
  private fd = -1;
  private fileNo = 0;
  private size = 0;
  private readonly fsync: FsyncPolicy;
  private readonly maxFileBytes: number;
  private readonly maxFiles: number;
  private readonly repeatFlushMs: number;
  private readonly pendingRepeats = new Map<string, { v: Violation; at: number }>();
  private syncTimer: NodeJS.Timeout | null = null;
  private dirty = false;
  writeErrors = 0;

  constructor(private readonly opts: JournalOptions) {
    this.fsync = opts.fsync ?? 'always';
    this.maxFileBytes = opts.maxFileBytes ?? 64 << 20;
    this.maxFiles = opts.maxFiles ?? 8;
    this.repeatFlushMs = opts.repeatFlushMs ?? 1000;
  }

  /** Read everything already journaled, then open for appending. */
  open(): JournalLoad {
    try {
      fs.mkdirSync(this.opts.dir, { recursive: true });
    } catch (err) {
      throw new DaxmonError(
        'DAXMON_E_JOURNAL_DIR',
        `cannot create the journal directory ${this.opts.dir}: ${(err as Error).message}; choose another with --journal-dir`,
      );
    }
    const load = readJournal(this.opts.dir);
    const files = listFiles(this.opts.dir);
    this.fileNo = files.length ? files[files.length - 1]!.no : 1;
    this.openFile(this.fileNo);
    // A torn tail is finished with a newline so the next record starts on its own line. A complete
    // record whose newline was lost parses fine (no tornTail) but needs the newline just the same.
    if (load.tornTail || this.lastByteIsNotNewline()) this.writeRaw('\n');
    return load;
  }

  /** Record an update. 'new' and 'cleared' are durable when this returns (per fsync policy). */
  write(v: Violation, update: ViolationUpdate, now = Date.now()): void {
    if (update === 'repeat') {
      const p = this.pendingRepeats.get(v.id);
      if (p) return; // already scheduled: the latest count is read from v when flushed
      this.pendingRepeats.set(v.id, { v, at: now });
      return;
    }
    this.flushRepeats(now, true);
    if (update === 'new') this.append({ j: J, op: 'new', v });
    else this.append({ j: J, op: 'cleared', id: v.id, clearedT: v.clearedT });
  }

  /** Write coalesced repeat counts older than the flush interval (all of them with `all`). */
  flushRepeats(now = Date.now(), all = false): void {
    for (const [id, p] of this.pendingRepeats) {
      if (!all && now - p.at < this.repeatFlushMs) continue;
      this.pendingRepeats.delete(id);
      this.append({ j: J, op: 'repeat', id, count: p.v.count, lastT: p.v.lastT });
    }
  }

  close(): void {
    this.flushRepeats(Date.now(), true);
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    if (this.fd >= 0) {
      if (this.dirty) this.trySync();
      fs.closeSync(this.fd);
      this.fd = -1;
    }
  }

  private append(obj: unknown): void {
    const line = JSON.stringify(obj) + '\n';
    if (this.size + Buffer.byteLength(line) > this.maxFileBytes && this.size > 0) this.rotate();
    this.writeRaw(line);
    if (this.fsync === 'always') this.trySync();
    else if (this.fsync === 'interval' && !this.syncTimer) {
      this.syncTimer = setTimeout(() => {
        this.syncTimer = null;
        this.trySync();
      }, this.opts.fsyncIntervalMs ?? 1000);
      this.syncTimer.unref();
    }
  }

  private writeRaw(s: string): void {
    try {
      const buf = Buffer.from(s, 'utf8');
      let off = 0;
      while (off < buf.length) off += fs.writeSync(this.fd, buf, off);
      this.size += buf.length;
      this.dirty = true;
    } catch (err) {
      this.writeErrors++;
      throw new DaxmonError(
        'DAXMON_E_JOURNAL_WRITE',
        `cannot write the violation journal in ${this.opts.dir}: ${(err as Error).message}`,
      );
    }
  }

  private trySync(): void {
    try {
      fs.fsyncSync(this.fd);
      this.dirty = false;
    } catch {
      this.writeErrors++;
    }
  }

  private rotate(): void {
    this.trySync();
    fs.closeSync(this.fd);
    this.openFile(this.fileNo + 1);
    const files = listFiles(this.opts.dir);
    for (const f of files.slice(0, Math.max(0, files.length - this.maxFiles))) {
      fs.rmSync(path.join(this.opts.dir, f.name), { force: true });
    }
  }

  private lastByteIsNotNewline(): boolean {
    if (this.size === 0) return false;
    const last = Buffer.alloc(1);
    const fd = fs.openSync(path.join(this.opts.dir, fileName(this.fileNo)), 'r');
    try {
      fs.readSync(fd, last, 0, 1, this.size - 1);
    } finally {
      fs.closeSync(fd);
    }
    return last[0] !== 0x0a;
  }

  private openFile(no: number): void {
    this.fileNo = no;
    const name = path.join(this.opts.dir, fileName(no));
    const created = !fs.existsSync(name);
    this.fd = fs.openSync(name, 'a', 0o640);
    this.size = fs.fstatSync(this.fd).size;
    // fsync(file) makes its data durable but not its name: a new file also needs its directory
    // synced, or a power loss can take the file, and every violation in it, away.
    if (created && this.fsync !== 'never') this.syncDir();
  }

  private syncDir(): void {
    try {
      const dfd = fs.openSync(this.opts.dir, 'r');
      try {
        fs.fsyncSync(dfd);
      } finally {
        fs.closeSync(dfd);
      }
    } catch {
      this.writeErrors++;
    }
  }
}

function fileName(no: number): string {
  return `violations-${String(no).padStart(6, '0')}.ndjson`;
}

function listFiles(dir: string): { name: string; no: number }[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map((name) => ({ name, m: FILE_RE.exec(name) }))
    .filter((x): x is { name: string; m: RegExpExecArray } => x.m !== null)
    .map((x) => ({ name: x.name, no: Number(x.m[1]) }))
    .sort((a, b) => a.no - b.no);
}

/** Read every journal file in order and rebuild the violations (repeats and clears applied). */
export function readJournal(dir: string): JournalLoad {
  const files = listFiles(dir);
  const byId = new Map<string, Violation>();
  let corruptLines = 0;
  let tornTail = false;
  files.forEach((f, fi) => {
    const text = fs.readFileSync(path.join(dir, f.name), 'utf8');
    const lines = text.split('\n');
    const endsClean = text.length === 0 || text.endsWith('\n');
    lines.forEach((line, li) => {
      if (line.trim() === '') return;
      const isLast = fi === files.length - 1 && li === lines.length - 1 && !endsClean;
      let o: {
        j?: unknown;
        op?: unknown;
        v?: Violation;
        id?: string;
        count?: number;
        lastT?: number;
        clearedT?: number;
      };
      try {
        o = JSON.parse(line) as typeof o;
      } catch {
        if (isLast) tornTail = true;
        else corruptLines++;
        return;
      }
      if (o.j !== J) {
        corruptLines++;
        return;
      }
      if (o.op === 'new' && o.v && typeof o.v.id === 'string') byId.set(o.v.id, o.v);
      else if (o.op === 'repeat' && typeof o.id === 'string') {
        const v = byId.get(o.id);
        if (v && typeof o.count === 'number') {
          v.count = o.count;
          if (typeof o.lastT === 'number') v.lastT = o.lastT;
        }
      } else if (o.op === 'cleared' && typeof o.id === 'string') {
        const v = byId.get(o.id);
        if (v && typeof o.clearedT === 'number') v.clearedT = o.clearedT;
      } else corruptLines++;
    });
  });
  return { violations: [...byId.values()], corruptLines, tornTail, files: files.length };
}

/** The next id number after the journaled ones (`v12` → 13). */
export function nextIdAfter(violations: readonly Violation[]): number {
  let max = 0;
  for (const v of violations) {
    const n = Number(v.id.slice(1));
    if (Number.isSafeInteger(n) && n > max) max = n;
  }
  return max + 1;
}
