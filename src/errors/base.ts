/**
 * The one error class daxmon throws on purpose. An area narrows the code and is otherwise a
 * one-liner (`class KernelReadError extends DaxmonError<KernelErrorCode> {}`), so the CLI, the log
 * and the API treat every area the same: the code from the catalogue, a message that says what to
 * do (without the code: whoever prints it adds the code once), an exit status, and the `cause`.
 * Anything else that reaches the top is a bug and is printed with its stack.
 *
 * Depends on the catalogue only, so the VM lab (lab/, its own package) can extend it.
 */
import { exitCodeOf, type ErrorCode } from './catalogue.js';

export interface DaxmonErrorOptions {
  /** The error this one explains (a Node system error, a child's failure…); logged with it. */
  cause?: unknown;
  /** Exit status of the CLI; default the catalogue's for the code (2 unless it says otherwise). */
  exitCode?: number;
}

// A registered symbol, not a private field: two copies of this module (the VM lab bundled
// separately, a test build) still recognise each other's errors.
const BRAND = Symbol.for('daxmon.error');

export class DaxmonError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  readonly exitCode: number;

  constructor(code: C, message: string, options: DaxmonErrorOptions = {}) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined);
    // The subclass's own name (KernelReadError, VmError…), for stacks and `err.name`.
    this.name = new.target.name;
    this.code = code;
    this.exitCode = options.exitCode ?? exitCodeOf(code);
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/** Any DaxmonError, of any area, from any copy of this module. */
export function isDaxmonError(e: unknown): e is DaxmonError {
  return (
    e instanceof DaxmonError ||
    (e instanceof Error && (e as unknown as Record<symbol, unknown>)[BRAND] === true)
  );
}
