/**
 * The durable violation journal: append-only files of checksummed records in a directory
 * (format and reader: journal-format.ts), written synchronously (and fsynced by policy) before a
 * violation is shown anywhere else, so that a daemon killed right after raising one loses nothing
 * it acknowledged. Size-based rotation keeps a bounded number of files.
 *
 * Start-up fails (DAXMON_E_JOURNAL_DIR, with the path and the errno) only when the directory or a
 * journal file cannot be read or opened for writing; it never writes. A write that fails later
 * (ENOSPC, EIO, …) keeps the record in a bounded in-memory backlog, counts the failure, and the
 * backlog is written, in order, at the next write or flush once the disk takes it again.
 */
import nodeFs from 'node:fs';
import path from 'node:path';
import { DaxmonError } from '../errors.js';
import { lockDir, type DirLock } from './dir-lock.js';
import { Fifo } from './fifo.js';
import { IdReservation, type ReserveFs } from './id-reservation.js';
import {
  isViolation,
  lineFor,
  MAX_RECORD_CHARS,
  parseJournal,
  type JournalLoad,
  type JournalRecord,
} from './journal-format.js';
import type { Violation, ViolationUpdate } from './violation.js';

export { idNumber, parseJournal, type JournalLoad } from './journal-format.js';

export type FsyncPolicy = 'always' | 'interval' | 'never';

/** The part of node:fs the journal uses: tests inject failures (ENOSPC, EACCES) through it. */
export type JournalFs = Pick<
  typeof nodeFs,
  | 'mkdirSync'
  | 'statSync'
  | 'readdirSync'
  | 'readFileSync'
  | 'openSync'
  | 'writeSync'
  | 'fsyncSync'
  | 'ftruncateSync'
  | 'fstatSync'
  | 'closeSync'
  | 'rmSync'
  | 'existsSync'
  | 'readSync'
>;

export interface JournalOptions {
  dir: string;
  fsync?: FsyncPolicy;
  /** With fsync 'interval': at most this long between a write and its fsync. */
  fsyncIntervalMs?: number;
  maxFileBytes?: number;
  maxFiles?: number;
  /** Repeat counts are coalesced: written at most this often per violation. */
  repeatFlushMs?: number;
  /** Records kept in memory while the disk refuses them; beyond, the oldest are dropped (counted). */
  maxBacklogBytes?: number;
  fs?: JournalFs;
  /** Told when writing starts failing and when it works again (the daemon logs it). */
  onWriteState?: (s: { failing: boolean; error?: NodeJS.ErrnoException; backlog: number }) => void;
  /** Told at the first record dropped from a full backlog in an episode of failed writes. */
  onDrop?: (s: { dropped: number }) => void;
  /** Told when ids could not be reserved (docs/journal.md): they may be handed out again after a restart. */
  onReserveFailure?: (err: NodeJS.ErrnoException) => void;
  /** Ids reserved per write of `ids.reserve`. */
  idBlock?: number;
}

export const DEFAULT_MAX_FILE_BYTES = 64 << 20;
export const DEFAULT_MAX_FILES = 8;

const FILE_RE = /^violations-(\d{6})\.ndjson$/;

export class Journal {
  private fd = -1;
  private fileNo = 0;
  private size = 0;
  private seq = 1;
  /** 'new' records on disk (rotated-out files included): the next file header's newBefore. */
  private newWritten = 0;
  private needNewline = false;
  private header: string | null = null;
  /** Serialised records not yet on disk, oldest first. */
  private readonly backlog = new Fifo<{ json: string; isNew: boolean }>();
  /** Dropped records not yet marked in the files by a `lost` record. */
  private unmarkedLost = 0;
  private unmarkedLostNew = 0;
  private lock: DirLock | null = null;
  private ids: IdReservation | null = null;
  private backlogBytes = 0;
  private failing = false;
  private readonly fs: JournalFs;
  private readonly fsync: FsyncPolicy;
  private readonly maxFileBytes: number;
  private readonly maxFiles: number;
  private readonly repeatFlushMs: number;
  private readonly maxBacklogBytes: number;
  private readonly pendingRepeats = new Map<string, { v: Violation; at: number }>();
  private syncTimer: NodeJS.Timeout | null = null;
  private dirty = false;
  /** Failed writes, fsyncs and opens (each attempt once). */
  writeErrors = 0;
  /** Records dropped from a full backlog: never journaled (a `lost` record marks them). */
  droppedRecords = 0;
  /** Violations refused because their record is not one the reader would take (shape, depth, size). */
  invalidRecords = 0;

  constructor(private readonly opts: JournalOptions) {
    this.fs = opts.fs ?? nodeFs;
    this.fsync = opts.fsync ?? 'always';
    this.maxFileBytes = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    this.maxFiles = opts.maxFiles ?? DEFAULT_MAX_FILES;
    this.repeatFlushMs = opts.repeatFlushMs ?? 1000;
    this.maxBacklogBytes = opts.maxBacklogBytes ?? 16 << 20;
  }

  /** Records waiting in memory for the disk. */
  get pending(): number {
    return this.backlog.length;
  }

  /** Read everything already journaled, then open the newest file for appending (writing nothing). */
  open(): JournalLoad {
    const dir = this.opts.dir;
    try {
      this.fs.mkdirSync(dir, { recursive: true });
      if (!this.fs.statSync(dir).isDirectory()) throw errno('ENOTDIR', dir);
    } catch (err) {
      throw dirError(dir, err, 'cannot create the journal directory');
    }
    const load = readJournal(dir, this.fs);
    this.seq = load.nextSeq;
    this.newWritten = load.newRecords;
    this.needNewline = !load.endsWithNewline;
    const files = listFiles(dir, this.fs);
    this.fileNo = files.length ? files[files.length - 1]!.no : 1;
    try {
      this.openFile(this.fileNo);
    } catch (err) {
      // A full disk must not keep daxmon from starting and serving what is journaled: the file
      // is opened again at the next write. Anything else (permissions, not a directory) is fatal.
      if (!isFull(err))
        throw dirError(path.join(dir, fileName(this.fileNo)), err, 'cannot open the journal file');
      this.failed(err);
    }
    // One writer per directory: two would hand out the same sequence numbers and ids.
    try {
      this.lock = lockDir(dir);
    } catch (err) {
      if (this.fd >= 0) this.fs.closeSync(this.fd);
      this.fd = -1;
      throw err;
    }
    // Ids continue above the journal's and above every block ever reserved, so that ids handed
    // out but never journaled (a full disk, then a restart) are not handed out again.
    this.ids = new IdReservation(dir, this.fs as ReserveFs, this.opts.idBlock, (err) => {
      this.writeErrors++;
      this.opts.onReserveFailure?.(err as NodeJS.ErrnoException);
    });
    load.nextId = this.ids.start(load.nextId);
    return load;
  }

  /** The next violation id (reserved on disk first; open() first). */
  takeId(): number {
    if (!this.ids) throw new Error('Journal.takeId before open()');
    return this.ids.take();
  }

  /** Record an update. 'new' and 'cleared' are durable when this returns (per fsync policy). */
  write(v: Violation, update: ViolationUpdate, now = Date.now()): void {
    if (update === 'new' && !isViolation(v)) {
      // The reader would count it damaged (and the API could not serve it): never written.
      this.invalidRecords++;
      return;
    }
    if (update === 'repeat') {
      const p = this.pendingRepeats.get(v.id);
      if (p) return; // already scheduled: the latest count is read from v when flushed
      this.pendingRepeats.set(v.id, { v, at: now });
      return;
    }
    this.queueRepeats(now, true);
    if (update === 'new') this.queue({ op: 'new', v });
    else this.queue({ op: 'cleared', id: v.id, clearedT: v.clearedT });
    this.drain();
  }

  /** Write coalesced repeat counts older than the flush interval (all of them with `all`), and any backlog. */
  flushRepeats(now = Date.now(), all = false): void {
    this.queueRepeats(now, all);
    if (this.backlog.length) this.drain();
  }

  private queueRepeats(now: number, all: boolean): void {
    for (const [id, p] of this.pendingRepeats) {
      if (!all && now - p.at < this.repeatFlushMs) continue;
      this.pendingRepeats.delete(id);
      this.queue({ op: 'repeat', id, count: p.v.count, lastT: p.v.lastT });
    }
  }

  /** Write what is left and close; returns the records the disk still refused (lost with the process). */
  close(): number {
    this.flushRepeats(Date.now(), true);
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    if (this.fd >= 0) {
      if (this.dirty) this.trySync();
      this.fs.closeSync(this.fd);
      this.fd = -1;
    }
    this.ids?.close();
    this.lock?.release();
    this.lock = null;
    return this.backlog.length + this.unmarkedLost;
  }

  private queue(rec: JournalRecord): void {
    const json = JSON.stringify(rec);
    if (json.length > MAX_RECORD_CHARS - 100) {
      this.invalidRecords++;
      return;
    }
    this.backlog.push({ json, isNew: rec.op === 'new' });
    this.backlogBytes += json.length;
    while (this.backlogBytes > this.maxBacklogBytes && this.backlog.length > 1) {
      const old = this.backlog.shift()!;
      this.backlogBytes -= old.json.length;
      if (this.unmarkedLost === 0) this.opts.onDrop?.({ dropped: this.droppedRecords + 1 });
      this.droppedRecords++;
      this.unmarkedLost++;
      if (old.isNew) this.unmarkedLostNew++;
    }
  }

  /** Write the backlog in order; stop at the first failure (the rest waits for the next try). */
  private drain(): void {
    let wrote = false;
    if (this.unmarkedLost > 0) {
      // Where the dropped records were: a `lost` record, so the reader counts them, and so the
      // rotation headers' count of 'new' records still covers their ids.
      const lost: JournalRecord = {
        op: 'lost',
        records: this.unmarkedLost,
        newRecords: this.unmarkedLostNew,
      };
      if (!this.writeRecord(JSON.stringify(lost))) return;
      this.newWritten += this.unmarkedLostNew;
      this.unmarkedLost = 0;
      this.unmarkedLostNew = 0;
      wrote = true;
    }
    while (this.backlog.length) {
      const rec = this.backlog.peek()!;
      if (!this.writeRecord(rec.json)) return;
      this.backlog.shift();
      this.backlogBytes -= rec.json.length;
      if (rec.isNew) this.newWritten++;
      wrote = true;
    }
    if (!wrote) return;
    if (this.failing) {
      this.failing = false;
      this.opts.onWriteState?.({ failing: false, backlog: 0 });
    }
    if (this.fsync === 'always') this.trySync();
    else if (this.fsync === 'interval' && !this.syncTimer) {
      this.syncTimer = setTimeout(() => {
        this.syncTimer = null;
        this.trySync();
      }, this.opts.fsyncIntervalMs ?? 1000);
      this.syncTimer.unref();
    }
  }

  /** One record (after the new file's header, if it has just been rotated to): all or nothing. */
  private writeRecord(json: string): boolean {
    let buf: Buffer;
    try {
      if (this.fd < 0) this.openFile(this.fileNo);
      buf = this.bytesFor(json);
      if (this.header === null && this.size > 0 && this.size + buf.length > this.maxFileBytes) {
        this.rotate();
        buf = this.bytesFor(json);
      }
    } catch (err) {
      this.failed(err);
      return false;
    }
    const seq = this.seq;
    const start = this.size;
    let off = 0;
    try {
      while (off < buf.length) off += this.fs.writeSync(this.fd, buf, off);
    } catch (err) {
      // Take back half a record, so that the retry starts on a clean line; if even that fails,
      // the retry starts with a newline and the half record reads as one damaged line.
      if (off > 0) {
        try {
          this.fs.ftruncateSync(this.fd, start);
        } catch {
          this.size = start + off;
          this.needNewline = true;
        }
      }
      this.failed(err);
      return false;
    }
    this.size = start + buf.length;
    this.seq = this.header !== null ? seq + 2 : seq + 1;
    this.header = null;
    this.needNewline = false;
    this.dirty = true;
    return true;
  }

  /** The bytes of the next write: a newline after half a record, the file header, the record. */
  private bytesFor(json: string): Buffer {
    let text = this.needNewline ? '\n' : '';
    // The header tells a reader of the files left after the oldest are deleted how many
    // violations went with them (the API's olderOutsideWindow).
    if (this.header !== null) text += lineFor(this.seq, this.header);
    text += lineFor(this.header !== null ? this.seq + 1 : this.seq, json);
    return Buffer.from(text, 'utf8');
  }

  private failed(err: unknown): void {
    this.writeErrors++;
    if (!this.failing) {
      this.failing = true;
      this.opts.onWriteState?.({
        failing: true,
        error: err as NodeJS.ErrnoException,
        backlog: this.backlog.length,
      });
    }
  }

  private trySync(): void {
    if (this.fd < 0) return;
    try {
      this.fs.fsyncSync(this.fd);
      this.dirty = false;
    } catch {
      this.writeErrors++;
    }
  }

  private rotate(): void {
    this.trySync();
    this.fs.closeSync(this.fd);
    this.fd = -1;
    this.fileNo++;
    this.needNewline = false;
    // Set before the open, so that a new file that cannot be created yet still gets it first.
    this.header = JSON.stringify({ op: 'file', newBefore: this.newWritten } satisfies JournalRecord);
    this.openFile(this.fileNo);
    const files = listFiles(this.opts.dir, this.fs);
    for (const f of files.slice(0, Math.max(0, files.length - this.maxFiles))) {
      try {
        this.fs.rmSync(path.join(this.opts.dir, f.name), { force: true });
      } catch {
        this.writeErrors++;
      }
    }
  }

  private openFile(no: number): void {
    const name = path.join(this.opts.dir, fileName(no));
    const created = !this.fs.existsSync(name);
    const fd = this.fs.openSync(name, 'a', 0o640);
    this.fd = fd;
    this.size = this.fs.fstatSync(fd).size;
    // fsync(file) makes its data durable but not its name: a new file also needs its directory
    // synced, or a power loss can take the file, and every violation in it, away.
    if (created && this.fsync !== 'never') this.syncDir();
  }

  private syncDir(): void {
    try {
      const dfd = this.fs.openSync(this.opts.dir, 'r');
      try {
        this.fs.fsyncSync(dfd);
      } finally {
        this.fs.closeSync(dfd);
      }
    } catch {
      this.writeErrors++;
    }
  }
}

function fileName(no: number): string {
  return `violations-${String(no).padStart(6, '0')}.ndjson`;
}

function listFiles(dir: string, fs: JournalFs): { name: string; no: number }[] {
  return fs
    .readdirSync(dir)
    .map((name) => ({ name, m: FILE_RE.exec(name) }))
    .filter((x): x is { name: string; m: RegExpExecArray } => x.m !== null)
    .map((x) => ({ name: x.name, no: Number(x.m[1]) }))
    .sort((a, b) => a.no - b.no);
}

/**
 * Read every journal file in order and rebuild the violations (repeats and clears applied). A
 * directory that does not exist holds no journal; one that cannot be read, or a file in it that
 * cannot, is DAXMON_E_JOURNAL_DIR: starting on an unreadable journal would hand out its ids again.
 */
export function readJournal(dir: string, fs: JournalFs = nodeFs): JournalLoad {
  let files: { name: string; no: number }[];
  try {
    files = listFiles(dir, fs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return parseJournal([]);
    throw dirError(dir, err, 'cannot read the journal directory');
  }
  const texts = files.map((f) => {
    const file = path.join(dir, f.name);
    try {
      return { text: fs.readFileSync(file, 'utf8') };
    } catch (err) {
      throw dirError(file, err, 'cannot read the journal file');
    }
  });
  return parseJournal(texts);
}

/** The next id number after the journaled ones (`v12` → 13), without damage reservations. */
export function nextIdAfter(violations: readonly Violation[]): number {
  let max = 0;
  for (const v of violations) {
    const n = Number(v.id.slice(1));
    if (Number.isSafeInteger(n) && n > max) max = n;
  }
  return max + 1;
}

function isFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

function errno(code: string, p: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: not a directory, '${p}'`), { code });
}

function dirError(p: string, err: unknown, what: string): DaxmonError {
  const e = err as NodeJS.ErrnoException;
  return new DaxmonError(
    'DAXMON_E_JOURNAL_DIR',
    `${what} ${p}: ${e.code ?? 'error'} (${e.message}); fix its permissions, or choose another with --journal-dir`,
    { cause: err },
  );
}
