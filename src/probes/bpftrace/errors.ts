/**
 * Stable error codes of the bpftrace backend. Thrown only where daxmon cannot go on (a snippet
 * directory that cannot be read, `--strict` with a probe that cannot attach); everything a
 * running backend hits becomes an event or a log line instead.
 */
export const BPFTRACE_ERROR_CODES = [
  'DAXMON_E_BPFTRACE_NOT_FOUND',
  'DAXMON_E_BPFTRACE_VERSION',
  'DAXMON_E_BPFTRACE_SNIPPETS_UNREADABLE',
  'DAXMON_E_BPFTRACE_SNIPPET_INVALID',
  'DAXMON_E_BPFTRACE_PROBE_UNAVAILABLE',
  'DAXMON_E_BPFTRACE_NO_PROBES',
  'DAXMON_E_BPFTRACE_SCRIPT_TOO_LARGE',
] as const;
export type BpftraceErrorCode = (typeof BPFTRACE_ERROR_CODES)[number];

export class BpftraceError extends Error {
  readonly code: BpftraceErrorCode;
  constructor(code: BpftraceErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.name = 'BpftraceError';
    this.code = code;
  }
}
