/**
 * The bpftrace backend: for hosts without clang/libbpf and for users who extend daxmon with
 * their own snippets. It assembles one script from the snippets whose hooks exist here
 * (script.ts), runs `bpftrace -e`, decodes its lines (decode.ts) and its stderr (stderr.ts).
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import type { Backend, BackendLaunch, BackendLog, BackendOptions } from '../backend.js';
import type { KernelFacts } from '../../kernel/facts.js';
import { BpftraceDecoder } from './decode.js';
import { BpftraceError } from './errors.js';
import { assembleScript, type AssembledScript } from './script.js';
import { loadSnippetLibrary, type SnippetLibrary } from './snippet.js';
import { handleStderrLine } from './stderr.js';

/** Oldest bpftrace the snippets were checked with (Debian bookworm): kfunc:MODULE:FN, kstack(N). */
export const MIN_BPFTRACE_VERSION: readonly [number, number] = [0, 17];

export type VersionProbe = () => { ok: true; version: string } | { ok: false; reason: string };

export interface BpftraceBackendDeps {
  /** `bpftrace --version`; injectable for tests. */
  probeVersion?: VersionProbe;
  loadLibrary?: (dir: string) => SnippetLibrary;
  /** Online CPUs: the perf buffer is per CPU. */
  cpus?: number;
  /** Override pages per CPU for BPFTRACE_PERF_RB_PAGES (power of two). */
  perfPagesPerCpu?: number;
  command?: string;
  /** Where the stdout decoder reports malformed lines (StreamDecoder.push has no log). */
  log?: BackendLog;
  /** Effective uid (injectable for tests). */
  euid?: () => number;
}

/** Fallback log for the stdout decoder: one line per message on stderr. */
export const stderrLog: BackendLog = {
  debug() {},
  info: (msg, fields) => console.error(`daxmon bpftrace: ${msg}`, fields ?? ''),
  warn: (msg, fields) => console.error(`daxmon bpftrace: warning: ${msg}`, fields ?? ''),
  error: (msg, fields) => console.error(`daxmon bpftrace: error: ${msg}`, fields ?? ''),
};

export const defaultVersionProbe: VersionProbe = () => {
  try {
    const out = execFileSync('bpftrace', ['--version'], { encoding: 'utf8', timeout: 10_000, stdio: 'pipe' });
    return { ok: true, version: out.trim() };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return {
      ok: false,
      reason:
        code === 'ENOENT'
          ? 'DAXMON_E_BPFTRACE_NOT_FOUND: bpftrace is not installed (Debian: apt-get install bpftrace)'
          : `DAXMON_E_BPFTRACE_NOT_FOUND: bpftrace --version failed: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
};

export function parseBpftraceVersion(text: string): [number, number, number] | null {
  const m = /v?(\d+)\.(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

/**
 * Pages per CPU for bpftrace's perf ring buffer. bpftrace's default (64 pages = 256 KiB per CPU)
 * overflowed at full fault speed in the VM testbed; aim at 64 MiB in total, between 256 KiB and
 * 16 MiB per CPU, rounded down to a power of two as perf requires.
 */
export function perfPagesPerCpu(cpus: number): number {
  const target = Math.floor((64 * 1024 * 1024) / Math.max(1, cpus) / 4096);
  const clamped = Math.min(4096, Math.max(64, target));
  return 2 ** Math.floor(Math.log2(clamped));
}

export interface BpftraceBackend extends Backend {
  /** The last script planned (for `daxmon doctor` and debugging). */
  lastScript(): AssembledScript | null;
  /** Probes left out because an earlier run of bpftrace could not attach them. */
  excluded(): ReadonlyMap<string, string>;
}

export function createBpftraceBackend(deps: BpftraceBackendDeps = {}): BpftraceBackend {
  const probeVersion = deps.probeVersion ?? defaultVersionProbe;
  const load = deps.loadLibrary ?? loadSnippetLibrary;
  const failed = new Map<string, string>();
  let last: AssembledScript | null = null;

  return {
    name: 'bpftrace',
    available(_facts: KernelFacts) {
      // bpftrace checks geteuid() == 0 before anything else (docs/privileges.md): an unprivileged
      // daxmon cannot run it, and daxmon-caps does not launch it.
      const euid = (deps.euid ?? (() => process.geteuid?.() ?? 0))();
      if (euid !== 0)
        return {
          ok: false,
          reason: `DAXMON_E_BPFTRACE_NOT_ROOT: bpftrace runs only as root (euid ${euid} here); use --backend libbpf (docs/privileges.md)`,
        };
      const v = probeVersion();
      if (!v.ok) return { ok: false, reason: v.reason };
      const parsed = parseBpftraceVersion(v.version);
      if (parsed === null)
        return { ok: false, reason: `DAXMON_E_BPFTRACE_VERSION: cannot parse "${v.version}"` };
      const [maj, min] = parsed;
      if (
        maj < MIN_BPFTRACE_VERSION[0] ||
        (maj === MIN_BPFTRACE_VERSION[0] && min < MIN_BPFTRACE_VERSION[1])
      ) {
        return {
          ok: false,
          reason: `DAXMON_E_BPFTRACE_VERSION: bpftrace ${parsed.join('.')} is older than ${MIN_BPFTRACE_VERSION.join('.')}`,
        };
      }
      return { ok: true };
    },
    plan(facts: KernelFacts, opts: BackendOptions): BackendLaunch {
      const lib = load(opts.bpftraceDir);
      const assembled = assembleScript(facts, lib, { exclude: failed });
      last = assembled;
      if (opts.strict && assembled.unavailable.length > 0) {
        throw new BpftraceError(
          'DAXMON_E_BPFTRACE_PROBE_UNAVAILABLE',
          `--strict: ${assembled.unavailable.map((u) => `${u.probe} (${u.reason})`).join('; ')}`,
        );
      }
      if (assembled.included.length === 0) {
        throw new BpftraceError(
          'DAXMON_E_BPFTRACE_NO_PROBES',
          `no probe can attach on this host: ${assembled.unavailable.map((u) => `${u.probe}: ${u.reason}`).join('; ')}`,
        );
      }
      const decoder = new BpftraceDecoder({
        log: deps.log ?? stderrLog,
        included: assembled.included,
        sleepsKnown: assembled.included.some((p) => p.probe === 'layout_break_sleep'),
      });
      const pages = deps.perfPagesPerCpu ?? perfPagesPerCpu(deps.cpus ?? os.availableParallelism());
      return {
        command: deps.command ?? 'bpftrace',
        // -B none: stdout is a pipe, and a fully buffered bpftrace would hold events back for
        // as long as the 4 KiB stdio buffer takes to fill. No --unsafe: no snippet calls system().
        args: ['-B', 'none', '-e', assembled.script],
        env: {
          BPFTRACE_PERF_RB_PAGES: String(pages),
          // Per-thread maps (@dxm_sleeps, @dxm_trunc) and the pgmap set stay far below this.
          BPFTRACE_MAP_KEYS_MAX: '65536',
          LC_ALL: 'C',
        },
        probes: assembled.included.map((p) => p.probe),
        unavailable: assembled.unavailable,
        notApplicable: assembled.notApplicable,
        stdout: {
          push: (chunk, emit) => decoder.push(chunk, emit),
          end: (emit) => decoder.end(emit),
        },
        onStderrLine(line, emit, log) {
          handleStderrLine(line, emit, log, {
            included: assembled.included,
            onAttachFailure: (probe, reason) => {
              if (!opts.strict) failed.set(probe, `attach failed in an earlier run: ${reason}`);
            },
            now: () => decoder.lastTimestamp,
          });
        },
      };
    },
    lastScript: () => last,
    excluded: () => failed,
  };
}

/** The default instance the supervisor uses. */
export const bpftraceBackend: BpftraceBackend = createBpftraceBackend();
