import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';

function flockFd(fd: number, wait: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = spawn('flock', ['-x', ...(wait ? [] : ['-n']), '3'], {
      stdio: ['ignore', 'ignore', 'ignore', fd],
    });
    c.on('error', reject);
    c.on('exit', (code) => resolve(code ?? 1));
  });
}

/**
 * An exclusive flock(2) on `path`, held until `release()`. Node has no flock; the `flock` tool
 * locks the open file description it inherits as fd 3, which this process keeps open, so the lock
 * outlives the tool and ends when the descriptor is closed (or this process dies: no stale lock).
 */
export async function lockFile(path: string, onWait?: () => void): Promise<{ release: () => Promise<void> }> {
  const fh = await open(path, 'a');
  if ((await flockFd(fh.fd, false)) !== 0) {
    onWait?.();
    if ((await flockFd(fh.fd, true)) !== 0) {
      await fh.close();
      throw new Error(`flock ${path} failed`);
    }
  }
  return { release: () => fh.close() };
}
