/**
 * daxmon's errors: a stable code (documented in docs/errors.md, safe to match on in scripts) and a
 * message that tells the user what to do. The CLI prints `daxmon: CODE: message` without a stack
 * for these; anything else is a bug and is printed with its stack.
 */
export class DaxmonError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'DaxmonError';
  }
}

export function isDaxmonError(e: unknown): e is DaxmonError {
  return e instanceof DaxmonError;
}
