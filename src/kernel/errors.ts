/**
 * Errors of reading the host (src/kernel); the codes are the catalogue's `kernel` area. A reader
 * never throws these at the caller of `gatherKernelFacts()`: each failure is turned into a reason
 * string (`"<code>: <what to do>"`) inside `KernelFacts`, so `daxmon doctor` can still print
 * everything it did manage to read. Code that needs a fact to proceed (e.g. `daxmon run` without BTF) may
 * throw `KernelReadError` itself.
 */
import { DaxmonError } from '../errors/base.js';
import { codesOf, type CodeOf } from '../errors/catalogue.js';

export type KernelErrorCode = CodeOf<'kernel'>;
export const KERNEL_ERROR_CODES: readonly KernelErrorCode[] = codesOf('kernel');

export class KernelReadError extends DaxmonError<KernelErrorCode> {}

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
