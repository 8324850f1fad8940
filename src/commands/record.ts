/**
 * `daxmon record --out FILE`: `daxmon run` with the live event stream written to FILE
 * (src/daemon/recording.ts), for `daxmon replay` later. It serves HTTP only when asked
 * (`--listen`, src/cli.ts): a recording session is usually a capture, not the monitor.
 */
import type { DaemonOptions } from '../daemon/daemon.js';
import { runDaemon } from './run.js';

export type RecordOptions = Omit<DaemonOptions, 'recordPath'> & { out: string };

export async function runRecord({ out, ...o }: RecordOptions): Promise<number> {
  return runDaemon({ ...o, recordPath: out });
}
