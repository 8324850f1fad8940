/**
 * Which BPF program types actually load on this host. Presence in kallsyms/BTF says nothing
 * about policy: the development machines have BTF and every symbol, yet refuse kprobes
 * (CONFIG_KPROBES=n) and fentry (EPERM from the sandbox) — docs/kernel-model.md §4.1. So the only
 * truthful answer is to load a tiny program of each type, which bpf/libbpf/bpfcheck.c does:
 *   daxmon-bpfcheck --json  →  {"tracepoint":{"loads":true,"detail":"..."}, "raw_tp": …, …}
 */
import { access, readFile } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import path from 'node:path';
import { reason } from './errors.js';
import { PACKAGE_ROOT } from '../package-root.js';
import { execaRunner } from './exec.js';
import type { CommandRunner } from './exec.js';
import { capsLauncher, helperCommand, LAUNCHER_ENV } from './launcher.js';
import { PROG_TYPES } from './facts.js';
import type { ProgType, ProgTypeResult } from './facts.js';

/** Exact text the brief fixes for a checkout that has not built the BPF side. */
export const BPFCHECK_NOT_BUILT = 'daxmon-bpfcheck not built: run npm run build:bpf';

export function defaultBpfcheckPath(): string {
  return path.join(PACKAGE_ROOT, 'bpf', 'build', 'daxmon-bpfcheck');
}

function all(loads: boolean | null, detail: string): Record<ProgType, ProgTypeResult> {
  const out = {} as Record<ProgType, ProgTypeResult>;
  for (const t of PROG_TYPES) out[t] = { loads, detail };
  return out;
}

// Capability bits (include/uapi/linux/capability.h).
const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/** Pure: the CapEff mask from /proc/<pid>/status, or null. */
export function parseCapEff(status: string): bigint | null {
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(status);
  return m ? BigInt(`0x${m[1]}`) : null;
}

/**
 * Loading tracing programs needs CAP_BPF + CAP_PERFMON (5.8+) or CAP_SYS_ADMIN; without them
 * every type fails with EPERM and the checker would report policy we did not actually test.
 */
export function capsAllowBpf(capEff: bigint): boolean {
  const has = (bit: bigint): boolean => ((capEff >> bit) & 1n) === 1n;
  return has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON));
}

/**
 * Pure: validate the checker's JSON. Unknown keys are ignored (the checker may learn more types
 * before Node does); a type it did not report is `loads: null`.
 */
export function parseBpfcheckOutput(stdout: string): Record<ProgType, ProgTypeResult> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new Error(`daxmon-bpfcheck printed no JSON: ${JSON.stringify(stdout.slice(0, 200))}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error('daxmon-bpfcheck JSON is not an object');
  }
  const obj = parsed as Record<string, unknown>;
  const out = {} as Record<ProgType, ProgTypeResult>;
  for (const t of PROG_TYPES) {
    const entry = obj[t];
    if (typeof entry !== 'object' || entry === null) {
      out[t] = { loads: null, detail: `daxmon-bpfcheck did not report ${t}` };
      continue;
    }
    const e = entry as Record<string, unknown>;
    const loads = typeof e.loads === 'boolean' ? e.loads : null;
    const detail = typeof e.detail === 'string' ? e.detail : '';
    out[t] = {
      loads,
      detail: loads === null && detail === '' ? `daxmon-bpfcheck gave no answer for ${t}` : detail,
    };
  }
  return out;
}

export interface ProgTypeOptions {
  /** Default: <package>/bpf/build/daxmon-bpfcheck. */
  bpfcheckPath?: string;
  procRoot?: string;
  run?: CommandRunner;
  timeoutMs?: number;
  /** Skip the privilege check (tests with a fake checker). */
  assumePrivileged?: boolean;
  /** The capability launcher (default: $DAXMON_CAPS_LAUNCHER); the checker is run through it. */
  launcher?: string | null;
}

export interface ProgTypesRead {
  results: Record<ProgType, ProgTypeResult>;
  /** Set when no type could be tested at all. */
  reason?: string;
}

/** Run the checker. Never throws: every failure is `loads: null` with the reason as detail. */
export async function probeProgTypes(opts: ProgTypeOptions = {}): Promise<ProgTypesRead> {
  const bin = opts.bpfcheckPath ?? defaultBpfcheckPath();
  try {
    await access(bin, fsConstants.X_OK);
  } catch {
    return {
      results: all(null, BPFCHECK_NOT_BUILT),
      reason: reason('DAXMON_E_BPFCHECK_MISSING', `${bin}: ${BPFCHECK_NOT_BUILT}`),
    };
  }
  const launcher = opts.launcher === undefined ? capsLauncher() : opts.launcher;
  // Through the launcher the checker gets its own capabilities: daxmon's own do not matter.
  if (!opts.assumePrivileged && launcher === null) {
    let capEff: bigint | null = null;
    try {
      capEff = parseCapEff(await readFile(path.join(opts.procRoot ?? '/proc', 'self', 'status'), 'utf8'));
    } catch {
      // Unknown: let the checker try and report what the kernel says.
    }
    if (capEff !== null && !capsAllowBpf(capEff)) {
      const why = `not root and no CAP_BPF+CAP_PERFMON (or CAP_SYS_ADMIN), and no ${LAUNCHER_ENV}: program types could not be tried; run \`sudo daxmon doctor\`, or set ${LAUNCHER_ENV} to the daxmon-caps scripts/install-caps.sh installed (docs/privileges.md)`;
      return { results: all(null, why), reason: reason('DAXMON_E_BPFCHECK_NO_PRIVILEGE', why) };
    }
  }
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const cmd = helperCommand(bin, ['--json'], launcher);
  const r = await (opts.run ?? execaRunner)(cmd.command, cmd.args, { timeoutMs });
  // The checker may exit non-zero when some types are refused; its JSON is still the answer.
  try {
    return { results: parseBpfcheckOutput(r.stdout) };
  } catch (err) {
    const how = r.error ?? `exit ${r.exitCode}`;
    const stderr = r.stderr.split('\n').find((l) => l.trim().length > 0) ?? '';
    const why = `daxmon-bpfcheck failed (${how}${stderr ? `: ${stderr.trim()}` : ''}; ${(err as Error).message})`;
    return { results: all(null, why), reason: reason('DAXMON_E_BPFCHECK_FAILED', why) };
  }
}

/** The cause of a refusal daxmon can name from the other facts it read. */
export interface RefusalContext {
  /** tracefs is mounted somewhere daxmon found it (readable or not). */
  tracefsMounted: boolean;
  config: ReadonlyMap<string, string> | null;
}

export const TRACEFS_MOUNT_COMMAND = 'mount -t tracefs nodev /sys/kernel/tracing';

/**
 * Pure: each refused type's detail completed with why, when another fact explains it. The
 * checker only sees the kernel's errno (a `tracepoint` attach without tracefs is ENOENT: libbpf
 * opens the perf event by the id in tracefs's events/<category>/<name>/id), so doctor and run
 * would otherwise say "refused" without saying what to do.
 */
export function explainRefusals(
  results: Readonly<Record<ProgType, ProgTypeResult>>,
  ctx: RefusalContext,
): Record<ProgType, ProgTypeResult> {
  const out = { ...results };
  const tp = results.tracepoint;
  if (tp.loads === false && !ctx.tracefsMounted) {
    out.tracepoint = {
      loads: false,
      detail: `${tp.detail}; ${reason(
        'DAXMON_E_TRACEFS_NOT_MOUNTED',
        `tracefs is not mounted, and tracepoint programs attach through its event ids: mount it with \`${TRACEFS_MOUNT_COMMAND}\` (raw_tp and tp_btf do not need it)`,
      )}`,
    };
  }
  const kp = results.kprobe;
  if (kp.loads === false && ctx.config?.get('KPROBES') === 'n' && !kp.detail.includes('CONFIG_KPROBES')) {
    out.kprobe = {
      loads: false,
      detail: `${kp.detail}; this kernel is built without kprobes (CONFIG_KPROBES=n)`,
    };
  }
  return out;
}
