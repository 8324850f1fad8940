/**
 * Violation ids reserved in blocks, so that an id is never handed out twice even when the journal
 * could not write the records that carried them (a full disk, then a restart). The high-water mark
 * lives in a small file of the journal directory, `ids.reserve`, of a fixed size allocated when it
 * is created and then overwritten in place (pwrite at offset 0 + fsync): on a full disk that needs
 * no new block, so it still succeeds. Ids are handed out only below the mark; the next block is
 * reserved before the mark is crossed.
 */
import nodeFs from 'node:fs';
import path from 'node:path';
import { crc32cHex } from './crc32c.js';

export const RESERVE_FILE = 'ids.reserve';
export const ID_BLOCK = 1000;
/** The file's fixed size: one line, space-padded. */
const SIZE = 64;

export type ReserveFs = Pick<
  typeof nodeFs,
  'openSync' | 'readSync' | 'writeSync' | 'fsyncSync' | 'closeSync'
>;

export class IdReservation {
  private fd = -1;
  /** Ids below this are reserved on disk. */
  private high = 0;
  private next = 1;
  /** Told once per episode that a reservation could not be written (and when it works again). */
  failing = false;

  constructor(
    private readonly dir: string,
    private readonly fs: ReserveFs = nodeFs,
    private readonly block = ID_BLOCK,
    private readonly onFailure: (err: unknown) => void = () => undefined,
  ) {}

  /** The high-water mark on disk (0 when there is no file or it is damaged). */
  readMark(): number {
    let fd: number;
    try {
      fd = this.fs.openSync(path.join(this.dir, RESERVE_FILE), 'r');
    } catch {
      return 0;
    }
    try {
      const buf = Buffer.alloc(SIZE);
      const n = this.fs.readSync(fd, buf, 0, SIZE, 0);
      const m = /^\{"high":(\d{1,15}),"c":"([0-9a-f]{8})"\}/.exec(buf.subarray(0, n).toString('latin1'));
      return m && crc32cHex(`{"high":${m[1]}}`) === m[2] ? Number(m[1]) : 0;
    } catch {
      return 0;
    } finally {
      this.fs.closeSync(fd);
    }
  }

  /** Start at `first` (or above the mark on disk) and reserve the first block. Returns the first id. */
  start(first: number): number {
    this.next = Math.max(first, this.readMark());
    this.reserve();
    return this.next;
  }

  /** The next id: reserved on disk before it is handed out whenever the disk lets it be. */
  take(): number {
    if (this.next >= this.high) this.reserve();
    return this.next++;
  }

  /** The id the next take() returns. */
  get peek(): number {
    return this.next;
  }

  /**
   * Lower the mark to the next id: every id handed out is below it, journaled or not, so a clean
   * stop makes the next start skip no id (a crash skips at most the rest of the block).
   */
  close(): void {
    if (this.fd >= 0 && !this.failing) {
      try {
        this.writeMark(this.next);
      } catch {
        // the higher mark stays: ids skip, none is reused
      }
    }
    if (this.fd >= 0) this.fs.closeSync(this.fd);
    this.fd = -1;
  }

  /**
   * Write next + block as the mark. If even that fails (an I/O error, or a full disk before the file
   * ever existed), ids are still handed out (a violation is never withheld from the API and the
   * log), the failure is reported, and every later id tries again (docs/journal.md).
   */
  private reserve(): void {
    const mark = this.next + this.block;
    try {
      this.writeMark(mark);
      this.high = mark;
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.onFailure(err);
      this.failing = true;
    }
  }

  private writeMark(mark: number): void {
    if (this.fd < 0) this.fd = this.openFile();
    const body = `{"high":${mark}}`;
    const line = `{"high":${mark},"c":"${crc32cHex(body)}"}`.padEnd(SIZE - 1, ' ') + '\n';
    const buf = Buffer.from(line, 'latin1');
    let off = 0;
    while (off < SIZE) off += this.fs.writeSync(this.fd, buf, off, SIZE - off, off);
    this.fs.fsyncSync(this.fd);
  }

  /** Open the file, creating it at its full size first (so later writes need no new block). */
  private openFile(): number {
    const file = path.join(this.dir, RESERVE_FILE);
    try {
      return this.fs.openSync(file, 'r+');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    // Filled with spaces first (reads as no mark), so every later write overwrites allocated blocks.
    const fd = this.fs.openSync(file, 'wx+', 0o640);
    try {
      const zero = Buffer.alloc(SIZE, 0x20);
      let off = 0;
      while (off < SIZE) off += this.fs.writeSync(fd, zero, off, SIZE - off, off);
      this.fs.fsyncSync(fd);
    } catch (err) {
      this.fs.closeSync(fd); // left short or blank: reads as no mark, and is opened again next time
      throw err;
    }
    return fd;
  }
}
