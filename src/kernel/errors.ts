/**
 * Stable error codes for reading the host (src/kernel). A reader never throws these at the
 * caller of `gatherKernelFacts()`: each failure is turned into a reason string
 * (`"<code>: <what to do>"`) inside `KernelFacts`, so `daxmon doctor` can still print everything
 * it did manage to read. Code that needs a fact to proceed (e.g. `daxmon run` without BTF) may
 * throw `KernelReadError` itself.
 */
export const KERNEL_ERROR_CODES = [
  'DAXMON_E_KALLSYMS_UNREADABLE',
  'DAXMON_E_BTF_MISSING',
  'DAXMON_E_BTF_INVALID',
  'DAXMON_E_TRACEFS_NOT_MOUNTED',
  'DAXMON_E_TRACEFS_UNREADABLE',
  'DAXMON_E_CONFIG_UNREADABLE',
  'DAXMON_E_BPFCHECK_MISSING',
  'DAXMON_E_BPFCHECK_NO_PRIVILEGE',
  'DAXMON_E_BPFCHECK_FAILED',
  'DAXMON_E_MODEL_OVERRIDE_INVALID',
  'DAXMON_E_DOCTOR_INTERNAL',
] as const;
export type KernelErrorCode = (typeof KERNEL_ERROR_CODES)[number];

export class KernelReadError extends Error {
  readonly code: KernelErrorCode;
  constructor(code: KernelErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KernelReadError';
    this.code = code;
  }
}

/** `"CODE: message"`, the form reasons take inside KernelFacts. */
export function reason(code: KernelErrorCode, message: string): string {
  return `${code}: ${message}`;
}

/** errno name of a Node fs error (`ENOENT`, `EACCES`, …), or the message when there is none. */
export function errnoOf(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') {
    return err.code;
  }
  return err instanceof Error ? err.message : String(err);
}
