/**
 * `daxmon run`: start the daemon (src/daemon/daemon.ts) and keep it running until SIGTERM,
 * SIGINT or `--duration`; then stop it in order and exit 0. A second signal while it stops exits
 * at once with 130, for a shutdown that hangs (a backend that will not die). With `--strict`, a
 * backend that fails (a probe that does not attach, a loader that exits) stops the daemon and
 * ends the command with that failure's code and exit status.
 */
import { startDaemon, type DaemonOptions } from '../daemon/daemon.js';
import type { DaxmonError } from '../errors.js';

/** setTimeout's longest delay (2^31-1 ms, 24.8 days): a longer one fires at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Call `fn` once `seconds` have passed, however long that is (`--duration 2500000` is 29 days):
 * a chain of timeouts none longer than setTimeout allows. Unref'd: it keeps nothing alive.
 */
export function afterSeconds(seconds: number, fn: () => void): { cancel(): void } {
  // Counted down slice by slice rather than read off a clock: a timer never fires early, so the
  // total is at least `seconds`, and a clock that jumps cannot shorten it.
  let left = seconds * 1000;
  let timer: NodeJS.Timeout;
  const arm = () => {
    const slice = Math.min(left, MAX_TIMEOUT_MS);
    left -= slice;
    timer = setTimeout(() => (left > 0 ? arm() : fn()), slice);
    timer.unref();
  };
  arm();
  return { cancel: () => clearTimeout(timer) };
}

export async function runDaemon(o: DaemonOptions): Promise<number> {
  const daemon = await startDaemon(o);
  return await new Promise<number>((resolve, reject) => {
    let stopping = false;
    const stop = async (why: string, failure?: DaxmonError) => {
      if (stopping) {
        if (failure) return;
        daemon.log.warn('second signal: exiting now');
        process.exit(130);
      }
      stopping = true;
      duration?.cancel();
      await daemon.stop(why);
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      if (failure) reject(failure);
      else resolve(0);
    };
    const onTerm = () => void stop('SIGTERM');
    const onInt = () => void stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    const duration =
      o.durationSeconds !== undefined
        ? afterSeconds(o.durationSeconds, () => void stop(`--duration ${o.durationSeconds}s elapsed`))
        : null;
    void daemon.failed.then((err) => stop(`--strict: ${err.code}`, err));
  });
}
