/**
 * One writer per journal directory: a lock file holding the writer's pid, created with O_EXCL.
 * Two writers (`daxmon replay --journal-dir` on the daemon's own directory) would hand out the
 * same sequence numbers and ids. A lock whose pid is no longer running (a daemon killed with
 * SIGKILL) is stale and taken over.
 */
import nodeFs from 'node:fs';
import path from 'node:path';
import { DaxmonError } from '../errors.js';

export const LOCK_FILE = 'daxmon.lock';

/** Directories locked by this process (a second Journal on one of them is a second writer too). */
const heldHere = new Set<string>();

export interface DirLock {
  release(): void;
}

/** Take the lock of `dir`, or throw DAXMON_E_JOURNAL_DIR naming the pid that holds it. */
export function lockDir(dir: string, fs: typeof nodeFs = nodeFs): DirLock {
  const key = path.resolve(dir);
  const file = path.join(dir, LOCK_FILE);
  if (heldHere.has(key)) throw inUse(dir, process.pid);
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = fs.openSync(file, 'wx', 0o644);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A disk too full for a new file must not keep daxmon from starting (docs/journal.md).
      if ((code === 'ENOSPC' || code === 'EDQUOT') && attempt === 0) return heldWithoutFile(key);
      if (code !== 'EEXIST' || attempt >= 3) throw lockError(file, err);
      const pid = holder(file, fs);
      if (pid !== null && alive(pid)) throw inUse(dir, pid);
      // Stale: move it aside under a unique name (an atomic step), then try to create ours again.
      const aside = `${file}.stale-${process.pid}-${attempt}`;
      try {
        fs.renameSync(file, aside);
        fs.rmSync(aside, { force: true });
      } catch {
        // gone meanwhile: try again
      }
      continue;
    }
    try {
      fs.writeSync(fd, `${process.pid}\n`);
    } catch {
      // A full disk: an empty lock file reads as stale, like no lock.
    } finally {
      fs.closeSync(fd);
    }
    heldHere.add(key);
    let released = false;
    return {
      release() {
        if (released) return;
        released = true;
        heldHere.delete(key);
        try {
          if (holder(file, fs) === process.pid) fs.rmSync(file, { force: true });
        } catch {
          // the lock is stale once this process is gone
        }
      },
    };
  }
}

function heldWithoutFile(key: string): DirLock {
  heldHere.add(key);
  return { release: () => heldHere.delete(key) };
}

/** The pid in a lock file; null when it holds none (an empty file: written on a full disk). */
function holder(file: string, fs: typeof nodeFs): number | null {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  // Our own pid in a lock this process does not hold: left by an earlier process with our pid.
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function inUse(dir: string, pid: number): DaxmonError {
  return new DaxmonError(
    'DAXMON_E_JOURNAL_DIR',
    `the journal directory ${dir} is in use by pid ${pid}; stop it or choose another --journal-dir`,
  );
}

function lockError(file: string, err: unknown): DaxmonError {
  const e = err as NodeJS.ErrnoException;
  return new DaxmonError(
    'DAXMON_E_JOURNAL_DIR',
    `cannot create the journal lock ${file}: ${e.code ?? 'error'} (${e.message}); fix its permissions, or choose another with --journal-dir`,
    { cause: err },
  );
}
