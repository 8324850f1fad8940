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
  /**
   * Dotted version, e.g. "0.17.0". null: the tool is there but did not say (timed out — a big
   * binary over 9p in an emulated guest can take seconds — or printed something unexpected).
   */
  version: string | null;
  /** Where it came from: the command, or the package for libbpf. */
  source: string;
  /** Why `version` is null. */
  problem?: string;
}

/** null = not installed. */
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

/** Not installed: the exec itself failed with ENOENT (or the shell's 127). */
function missing(r: RunResult): boolean {
  return r.error === 'ENOENT' || r.exitCode === 127;
}

async function fromCommand(
  run: CommandRunner,
  timeoutMs: number,
  command: string,
  args: string[],
  parse: (out: string) => string | null,
): Promise<ToolVersion | null> {
  const source = `${command} ${args.join(' ')}`;
  const r = await run(command, args, { timeoutMs });
  if (missing(r)) return null;
  if (!ok(r)) {
    const why =
      r.error ?? `exit ${r.exitCode}${r.stderr.trim() ? `: ${r.stderr.trim().split('\n')[0]}` : ''}`;
    return { version: null, source, problem: `${source} failed (${why})` };
  }
  // Some tools print their version on stderr.
  const version = parse(r.stdout) ?? parse(r.stderr);
  return version === null
    ? {
        version: null,
        source,
        problem: `${source} printed no version: ${JSON.stringify(r.stdout.slice(0, 80))}`,
      }
    : { version, source };
}

/** libbpf has no binary: ask pkg-config (libbpf-dev), then dpkg for the runtime or dev package. */
async function libbpfVersion(run: CommandRunner, timeoutMs: number): Promise<ToolVersion | null> {
  const pcSource = 'pkg-config --modversion libbpf';
  const pc = await run('pkg-config', ['--modversion', 'libbpf'], { timeoutMs });
  const pcVersion = ok(pc) ? parsePkgConfigVersion(pc.stdout) : null;
  if (pcVersion !== null) return { version: pcVersion, source: pcSource };
  for (const pkg of ['libbpf1', 'libbpf-dev', 'libbpf0']) {
    const r = await run('dpkg-query', ['-W', '-f=${Version}', pkg], { timeoutMs });
    if (!ok(r)) continue;
    const version = parseDebianUpstreamVersion(r.stdout);
    if (version !== null) return { version, source: `dpkg ${pkg}` };
  }
  // pkg-config exiting 1 means "no libbpf.pc": not installed. Not answering at all is unknown.
  if (pc.exitCode === null && !missing(pc)) {
    return {
      version: null,
      source: pcSource,
      problem: `${pcSource} failed (${pc.error ?? 'no exit status'})`,
    };
  }
  return null;
}

/** All versions, in parallel. Never throws. */
export async function readToolVersions(opts: ToolOptions = {}): Promise<ToolVersions> {
  const run = opts.run ?? execaRunner;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const [bpftrace, clang, libbpf, bpftool] = await Promise.all([
    fromCommand(run, timeoutMs, 'bpftrace', ['--version'], parseBpftraceVersion),
    fromCommand(run, timeoutMs, 'clang', ['--version'], parseClangVersion),
    libbpfVersion(run, timeoutMs),
    fromCommand(run, timeoutMs, 'bpftool', ['--version'], parseBpftoolVersion),
  ]);
  return { bpftrace, clang, libbpf, bpftool };
}
