/**
 * The one small interface every probe backend sits behind.
 *
 * A backend is an external process (the libbpf loader, bpftrace) started by the supervisor
 * (src/probes/supervisor.ts), which restarts it with backoff and turns exits into
 * `backend_stopped` events. The backend module only knows how to build its command line for this
 * host and how to turn the process's stdout/stderr into `DaxEvent`s.
 */
import type { BackendName, DaxEvent } from '../events/types.js';
import type { KernelFacts } from '../kernel/facts.js';

export type Emit = (event: DaxEvent) => void;

export interface BackendLog {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** Turns a byte stream into events. One instance per process lifetime (restart = new decoder). */
export interface StreamDecoder {
  /** Feed a chunk of stdout; complete events are passed to `emit` synchronously. */
  push(chunk: Buffer, emit: Emit): void;
  /** The stream ended; report a truncated trailing record, if any, through `log`. */
  end(emit: Emit): void;
}

/** What the supervisor needs to run one backend process. */
export interface BackendLaunch {
  command: string;
  args: string[];
  env?: Record<string, string>;
  /** Probes this launch will try to attach, for `daxmon_probe_attached` before the process reports. */
  probes: string[];
  /** Probes known up front not to be attachable on this host, with the reason. */
  unavailable: { probe: string; reason: string }[];
  /** Probes the running kernel's refcount model does not have: logged, not reported as detached. */
  notApplicable?: { probe: string; reason: string }[];
  stdout: StreamDecoder;
  /** One line of stderr: backend-specific (bpftrace "Lost N events", libbpf warnings). */
  onStderrLine(line: string, emit: Emit, log: BackendLog): void;
}

export interface Backend {
  readonly name: BackendName;
  /** Can this backend run here at all? If not, why (shown by doctor and in /readyz). */
  available(facts: KernelFacts): { ok: true } | { ok: false; reason: string };
  /** Plan the process for this host: which probes to enable, how to decode. */
  plan(facts: KernelFacts, opts: BackendOptions): BackendLaunch;
}

export interface BackendOptions {
  /** Fail instead of degrading when a probe cannot attach (`--strict`). */
  strict: boolean;
  /** Directory holding built BPF artifacts (bpf/build). */
  bpfBuildDir: string;
  /** Directory holding bpftrace scripts (bpf/bpftrace). */
  bpftraceDir: string;
}
