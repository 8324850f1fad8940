/**
 * The fields every log line about an error carries, so that `code` can be matched on in a log
 * search as it can in the CLI's output: `log.warn(errorLogFields(err), 'struct-page scan failed')`.
 */
import { isDaxmonError } from './base.js';
import { isErrorCode, type ErrorCode } from './catalogue.js';

export interface ErrorLogFields {
  /** The catalogue code; absent for an error daxmon did not expect (a bug, a raw Node error). */
  code?: ErrorCode;
  /** The message, without the code. */
  err: string;
  /** The cause's code and message, when the error has a cause. */
  cause?: string;
  /** A Node system error's errno name (ENOENT, EACCES…), when the error is one. */
  errno?: string;
}

export function errorLogFields(err: unknown): ErrorLogFields {
  const f: ErrorLogFields = { err: messageOf(err) };
  if (isDaxmonError(err)) f.code = err.code;
  else if (hasStringCode(err)) f.errno = err.code;
  if (err instanceof Error && err.cause !== undefined) f.cause = describeError(err.cause);
  return f;
}

/**
 * The first catalogue code in a text that carries one as a string: a reason
 * (`"DAXMON_E_LIBBPF_NO_BTF: …"`, the form of KernelFacts reasons and backend availability) or a
 * line a C helper printed (`daxmon-loader: DAXMON_E_LOADER_LOAD: …`), for the log line that
 * reports it.
 */
export function codeIn(text: string): ErrorCode | undefined {
  for (const m of text.matchAll(/DAXMON_E_[A-Z0-9_]+/g)) if (isErrorCode(m[0])) return m[0];
  return undefined;
}

/** `CODE: message` for a daxmon error, the bare message otherwise: for text that reports an error. */
export function describeError(e: unknown): string {
  return isDaxmonError(e) ? `${e.code}: ${e.message}` : messageOf(e);
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function hasStringCode(e: unknown): e is { code: string } {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string';
}
