/**
 * Errors of the bpftrace backend; the codes are the catalogue's `bpftrace` area. Thrown only where
 * daxmon cannot go on (a snippet directory that cannot be read, `--strict` with a probe that cannot
 * attach); everything a running backend hits becomes an event or a log line instead.
 */
import { DaxmonError } from '../../errors/base.js';
import { codesOf, type CodeOf } from '../../errors/catalogue.js';

export type BpftraceErrorCode = CodeOf<'bpftrace'>;
export const BPFTRACE_ERROR_CODES: readonly BpftraceErrorCode[] = codesOf('bpftrace');

export class BpftraceError extends DaxmonError<BpftraceErrorCode> {}
