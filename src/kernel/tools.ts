/**
 * Versions of the user-space tools the backends need: bpftrace (bpftrace backend), clang and
 * libbpf (building and loading the CO-RE objects), bpftool (vmlinux.h, debugging). A missing
 * tool is null, not an error: doctor reports it and the backend that needs it says unavailable.
 */
import { execaRunner } from './exec.js';
import type { CommandRunner, RunResult } from './exec.js';

export const TOOLS = ['bpftrace', 'clang', 'libbpf', 'bpftool'] as const;
export type ToolName = (typeof TOOLS)[number];

export interface ToolVersion {
  /** Dotted version, e.g. "0.17.0". */
  version: string;
  /** Where it came from: the command, or the package for libbpf. */
  source: string;
}

export type ToolVersions = Record<ToolName, ToolVersion | null>;

// ---- pure parsers ------------------------------------------------------------------------------

/** "bpftrace v0.17.0" → "0.17.0". */
export function parseBpftraceVersion(out: string): string | null {
  return /bpftrace v?(\d+\.\d+(?:\.\d+)?)/.exec(out)?.[1] ?? null;
}

/** "Debian clang version 14.0.6" / "clang version 18.1.8 (…)" → "14.0.6". */
export function parseClangVersion(out: string): string | null {
  return /clang version (\d+\.\d+(?:\.\d+)?)/.exec(out)?.[1] ?? null;
}

/** "bpftool v7.1.0\nusing libbpf v1.1" → "7.1.0". */
export function parseBpftoolVersion(out: string): string | null {
  return /bpftool v?(\d+\.\d+(?:\.\d+)?)/.exec(out)?.[1] ?? null;
}

/** `pkg-config --modversion libbpf` prints the bare version. */
export function parsePkgConfigVersion(out: string): string | null {
  const line = out.trim().split('\n')[0]?.trim() ?? '';
  return /^\d+(?:\.\d+)+$/.test(line) ? line : null;
}

/** Debian version "1:1.1.2-0+deb12u1" → upstream "1.1.2" (drop epoch and revision). */
export function parseDebianUpstreamVersion(out: string): string | null {
  const v = out.trim();
  if (v === '') return null;
  const m = /^(?:\d+:)?(\d+(?:\.\d+)+)/.exec(v);
  return m ? (m[1] as string) : null;
}

// ---- I/O ---------------------------------------------------------------------------------------

export interface ToolOptions {
  run?: CommandRunner;
  timeoutMs?: number;
}

function ok(r: RunResult): boolean {
  return r.exitCode === 0;
}

async function fromCommand(
  run: CommandRunner,
  timeoutMs: number,
  command: string,
  args: string[],
  parse: (out: string) => string | null,
): Promise<ToolVersion | null> {
  const r = await run(command, args, { timeoutMs });
  if (!ok(r)) return null;
  // Some tools print their version on stderr.
  const version = parse(r.stdout) ?? parse(r.stderr);
  return version === null ? null : { version, source: `${command} ${args.join(' ')}` };
}

/** libbpf has no binary: ask pkg-config (libbpf-dev), then dpkg for the runtime or dev package. */
async function libbpfVersion(run: CommandRunner, timeoutMs: number): Promise<ToolVersion | null> {
  const pc = await fromCommand(
    run,
    timeoutMs,
    'pkg-config',
    ['--modversion', 'libbpf'],
    parsePkgConfigVersion,
  );
  if (pc) return pc;
  for (const pkg of ['libbpf1', 'libbpf-dev', 'libbpf0']) {
    const r = await run('dpkg-query', ['-W', '-f=${Version}', pkg], { timeoutMs });
    if (!ok(r)) continue;
    const version = parseDebianUpstreamVersion(r.stdout);
    if (version !== null) return { version, source: `dpkg ${pkg}` };
  }
  return null;
}

/** All versions, in parallel. Never throws. */
export async function readToolVersions(opts: ToolOptions = {}): Promise<ToolVersions> {
  const run = opts.run ?? execaRunner;
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const [bpftrace, clang, libbpf, bpftool] = await Promise.all([
    fromCommand(run, timeoutMs, 'bpftrace', ['--version'], parseBpftraceVersion),
    fromCommand(run, timeoutMs, 'clang', ['--version'], parseClangVersion),
    libbpfVersion(run, timeoutMs),
    fromCommand(run, timeoutMs, 'bpftool', ['--version'], parseBpftoolVersion),
  ]);
  return { bpftrace, clang, libbpf, bpftool };
}
