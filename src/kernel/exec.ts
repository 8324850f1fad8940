/**
 * Running the few external programs doctor asks (daxmon-bpfcheck, bpftrace, clang, pkg-config,
 * dpkg-query, bpftool). One injectable runner so tests can feed canned output, and so a missing
 * or hanging tool becomes a result, never an exception.
 */
import { execa } from 'execa';

export interface RunResult {
  /** null when the process did not exit normally (not found, killed by the timeout, signal). */
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** Why it did not run or finish: "ENOENT", "timed out after 5000 ms", "killed by SIGKILL". */
  error?: string;
}

export type CommandRunner = (
  command: string,
  args: string[],
  opts: { timeoutMs: number },
) => Promise<RunResult>;

/**
 * The real runner: execa without throwing, with a hard timeout. The child gets its own process
 * group and the timeout kills the whole group: killing only the direct child would leave a
 * grandchild holding stdout open, and execa would wait for it (a wrapper script around a hung
 * tool does exactly that).
 */
export const execaRunner: CommandRunner = async (command, args, opts) => {
  const sub = execa(command, args, {
    reject: false,
    stdin: 'ignore',
    detached: true,
    // LC_ALL=C: parse version strings from untranslated output.
    env: { LC_ALL: 'C' },
    stripFinalNewline: true,
  });
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      timedOut = true;
      if (sub.pid !== undefined) {
        try {
          process.kill(-sub.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      // Give the streams a moment to close after the kill, then stop waiting regardless.
      setTimeout(() => resolve('timeout'), 1_000).unref();
    }, opts.timeoutMs);
  });
  const r = await Promise.race([sub, deadline]);
  clearTimeout(timer);
  if (r === 'timeout' || timedOut) {
    sub.stdout?.destroy();
    sub.stderr?.destroy();
    return { exitCode: null, stdout: '', stderr: '', error: `timed out after ${opts.timeoutMs} ms` };
  }
  const stdout = typeof r.stdout === 'string' ? r.stdout : '';
  const stderr = typeof r.stderr === 'string' ? r.stderr : '';
  const exitCode = typeof r.exitCode === 'number' ? r.exitCode : null;
  if (exitCode === null) {
    const code = (r as { code?: unknown }).code;
    const error =
      typeof code === 'string'
        ? code
        : r.signal
          ? `killed by ${r.signal}`
          : (r.shortMessage ?? 'did not run');
    return { exitCode: null, stdout, stderr, error };
  }
  return { exitCode, stdout, stderr };
};
