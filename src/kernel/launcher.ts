/**
 * The capability launcher (bpf/libbpf/caps.c, docs/privileges.md). Run unprivileged (the systemd
 * unit, the image), daxmon's Node process holds no capability and cannot hand any to a child:
 * every helper that loads BPF programs or reads root-only files is then started as
 * `daxmon-caps HELPER ARGS…`, and daxmon-caps, installed with file capabilities by
 * scripts/install-caps.sh, gives that helper its own set and nothing else.
 * `DAXMON_CAPS_LAUNCHER` names it; unset, helpers are spawned directly (root keeps working as
 * before). bpftrace is never launched this way: it runs any script it is handed, and the
 * bpftrace daxmon supports refuses a non-zero euid whatever its capabilities.
 */
import { constants as fsConstants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { reason } from './errors.js';

export const LAUNCHER_ENV = 'DAXMON_CAPS_LAUNCHER';

/** The configured launcher, or null (spawn helpers directly). */
export function capsLauncher(env: NodeJS.ProcessEnv = process.env): string | null {
  const v = env[LAUNCHER_ENV];
  return v === undefined || v === '' ? null : v;
}

export interface HelperCommand {
  command: string;
  args: string[];
}

/** Pure: how to start a privileged helper, through the launcher when there is one. */
export function helperCommand(binary: string, args: string[], launcher: string | null): HelperCommand {
  return launcher === null ? { command: binary, args } : { command: launcher, args: [binary, ...args] };
}

/** Why the configured launcher cannot be used (a `kernel` reason), or undefined when it can. */
export async function launcherProblem(launcher: string | null): Promise<string | undefined> {
  if (launcher === null) return undefined;
  if (!path.isAbsolute(launcher))
    return reason('DAXMON_E_CAPS_LAUNCHER', `${LAUNCHER_ENV}=${launcher} is not an absolute path`);
  try {
    await access(launcher, fsConstants.X_OK);
    return undefined;
  } catch (err) {
    const code = (err as { code?: string }).code ?? String(err);
    return reason(
      'DAXMON_E_CAPS_LAUNCHER',
      `${LAUNCHER_ENV}=${launcher} cannot be executed (${code}): run scripts/install-caps.sh as root, and run daxmon as its group's user`,
    );
  }
}
