/**
 * The VM lab's errors: the catalogue's `vm` area (src/errors/catalogue.ts says what each code
 * means and what to do; docs/errors.md shows them). Codes are stable: scripts and CI logs grep for
 * them. Messages say what to do next, because the person reading them is usually running
 * `npm run test:vm` for the first time, and do not repeat the code: whoever prints the error (the
 * CLI's `daxmon: CODE: message`, a log line's `code` field) adds it once.
 */
import { DaxmonError } from '../../src/errors/base.js';
import { CATALOGUE, codesOf, type CodeOf } from '../../src/errors/catalogue.js';

export type VmErrorCode = CodeOf<'vm'>;

/** Every VM lab code with what it means, as the catalogue has it. */
export const VM_ERROR_CODES = Object.fromEntries(
  codesOf('vm').map((code) => [code, CATALOGUE[code].meaning]),
) as { readonly [C in VmErrorCode]: string };

export class VmError extends DaxmonError<VmErrorCode> {}
