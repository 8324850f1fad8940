/**
 * `daxmon run`: start the daemon (src/daemon/daemon.ts) and keep it running until SIGTERM,
 * SIGINT or `--duration`; then stop it in order and exit 0. A second signal while it stops exits
 * at once with 130, for a shutdown that hangs (a backend that will not die).
 */
import { startDaemon, type DaemonOptions } from '../daemon/daemon.js';

export async function runDaemon(o: DaemonOptions): Promise<number> {
  const daemon = await startDaemon(o);
  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (why: string) => {
      if (stopping) {
        daemon.log.warn('second signal: exiting now');
        process.exit(130);
      }
      stopping = true;
      await daemon.stop(why);
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      resolve(0);
    };
    const onTerm = () => void stop('SIGTERM');
    const onInt = () => void stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    if (o.durationSeconds !== undefined)
      setTimeout(
        () => void stop(`--duration ${o.durationSeconds}s elapsed`),
        o.durationSeconds * 1000,
      ).unref();
  });
}
