/**
 * Every error answer of the HTTP API, in one shape (`{ error, code, message }`) with a catalogued
 * `DAXMON_E_API_*` code and that code's HTTP status (src/errors/catalogue.ts): the handlers' own
 * answers (`apiError`), and whatever fastify or Node report about a request (a query the schema
 * refuses, a body too large or unparsable, a URL that cannot be decoded, a route that does not
 * exist, a request line Node cannot parse). A code is typed `ApiErrorCode`, so an uncatalogued
 * one is a compile error. Only a bug is a 5xx here, and every 5xx is logged with its cause
 * (errorLogFields), since its answer says "see the daemon log".
 */
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { CATALOGUE, errorLogFields, isDaxmonError, type CodeOf } from '../errors.js';

export type ApiErrorCode = CodeOf<'api'>;

export interface ApiErrorBody {
  error: string;
  code: ApiErrorCode;
  message: string;
}

/** The status a code is answered with: its catalogue entry's. */
export function statusOf(code: ApiErrorCode): number {
  return (CATALOGUE[code] as { httpStatus?: number }).httpStatus ?? 500;
}

const WORD: Record<number, string> = {
  400: 'bad_request',
  404: 'not_found',
  408: 'request_timeout',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  500: 'internal',
  503: 'unavailable',
};

export function apiError(code: ApiErrorCode, message: string): ApiErrorBody {
  return { error: WORD[statusOf(code)] ?? 'error', code, message };
}

/** Answer with `code`'s status and body. */
export function sendApiError(reply: FastifyReply, code: ApiErrorCode, message: string): FastifyReply {
  return reply.code(statusOf(code)).send(apiError(code, message));
}

/** fastify's codes for a request it refuses, and the catalogue code each is answered with. */
const FASTIFY_CODES: Record<string, ApiErrorCode> = {
  FST_ERR_BAD_URL: 'DAXMON_E_API_BAD_URL',
  FST_ERR_CTP_BODY_TOO_LARGE: 'DAXMON_E_API_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'DAXMON_E_API_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'DAXMON_E_API_BODY',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'DAXMON_E_API_BODY',
  FST_ERR_CTP_INVALID_JSON_BODY: 'DAXMON_E_API_BODY',
  FST_ERR_CTP_INVALID_CONTENT_TYPE: 'DAXMON_E_API_MEDIA_TYPE',
  FST_ERR_VALIDATION: 'DAXMON_E_API_QUERY',
};

type RequestError = Partial<FastifyError> & Error & { validation?: unknown; status?: number };

/**
 * The catalogue code for an error raised while answering a request; undefined for a bug. A
 * client error fastify did not name (a 4xx status of its own) is a malformed request.
 */
export function codeForRequestError(err: RequestError): ApiErrorCode | undefined {
  if (isDaxmonError(err) && CATALOGUE[err.code].area === 'api') return err.code as ApiErrorCode;
  if (err.validation) return 'DAXMON_E_API_QUERY';
  const named = typeof err.code === 'string' ? FASTIFY_CODES[err.code] : undefined;
  if (named) return named;
  const status = err.statusCode ?? err.status;
  // The JSON parser's SyntaxError, a content-type parser's own 4xx.
  if (typeof status === 'number' && status >= 400 && status < 500)
    return err instanceof SyntaxError ? 'DAXMON_E_API_BODY' : 'DAXMON_E_API_REQUEST';
  return undefined;
}

/** Messages for the fastify-named codes: fastify's own say nothing about daxmon's API. */
function clientMessage(code: ApiErrorCode, err: RequestError): string {
  switch (code) {
    case 'DAXMON_E_API_BAD_URL':
      return 'the URL cannot be decoded; percent-encode it (%25 for a literal %)';
    case 'DAXMON_E_API_BODY_TOO_LARGE':
      return 'the request body is larger than 16 KiB; the API is read-only and needs none';
    case 'DAXMON_E_API_MEDIA_TYPE':
      return 'the API reads no request body of this Content-Type; it is read-only and needs none';
    case 'DAXMON_E_API_BODY':
      return `malformed request body (${err.message}); the API is read-only and needs none`;
    default:
      return err.message;
  }
}

/** The fastify error handler (and frameworkErrors): every request error answered from the catalogue. */
export function requestErrorHandler(log: Logger | undefined) {
  return (err: RequestError, req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const code = codeForRequestError(err);
    if (code && statusOf(code) < 500) return sendApiError(reply, code, clientMessage(code, err));
    log?.error(
      { ...errorLogFields(err), method: req.method, url: req.url, stack: err.stack },
      'HTTP request failed',
    );
    if (code) return sendApiError(reply, code, err.message);
    return sendApiError(reply, 'DAXMON_E_API_INTERNAL', 'internal error; see the daemon log');
  };
}

/** setNotFoundHandler: a JSON 404 for any method and path no route serves. */
export function notFoundHandler(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendApiError(
    reply,
    'DAXMON_E_API_NOT_FOUND',
    `no route ${req.method} ${req.url}; see / for the list`,
  );
}

/**
 * fastify's clientErrorHandler: a request Node's parser refuses never reaches a route, so it is
 * answered on the socket, in the API's shape (the request timeout as 408, everything else 400).
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) return;
  const code: ApiErrorCode =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'DAXMON_E_API_TIMEOUT' : 'DAXMON_E_API_REQUEST';
  const body = JSON.stringify(apiError(code, `malformed HTTP request (${err.code ?? 'parse error'})`));
  const status = statusOf(code);
  socket.end(
    `HTTP/1.1 ${status} ${status === 408 ? 'Request Timeout' : 'Bad Request'}\r\n` +
      `Connection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
