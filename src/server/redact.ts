/**
 * Raw kernel addresses leave daxmon only to a client presenting the API token (`--api-token-file`,
 * `Authorization: Bearer <token>`). The handlers already leave the pgmap keys out, but a record
 * daxmon did not write itself (a journal from `daxmon replay --journal-dir`, an older daxmon, a
 * hand-edited file) or a client's own input echoed in an error can carry one anywhere: so every
 * response is redacted once more on its way out, whatever the route and whatever wrote the data.
 *
 * Two hooks, one rule: `preSerialization` replaces numbers in the kernel's half of the address
 * space (a JSON number cannot be told apart once serialised), and `onSend` replaces every
 * address-looking run of text in the serialised body (JSON strings and keys, stack frames such as
 * `func+0x12/0x40 [ffffffffc0a1b2c3]`, the HTML page, the metrics text).
 *
 * What looks like a kernel address: 16 hex digits starting with `ff`, with or without `0x`, not
 * part of a longer hex run (a hash is not an address). x86-64 and arm64 kernels live in that range
 * with 4- and 5-level page tables alike (x86-64 from 0xff00000000000000 with LA57, arm64 from
 * 0xfff0000000000000 with 52-bit VAs).
 */
import crypto from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';

export const REDACTED = '[redacted]';

const ADDRESS_TEXT = /(?<![0-9a-fA-F])(?:0[xX])?[fF]{2}[0-9a-fA-F]{14}(?![0-9a-fA-F])/g;
/** The lowest kernel address (x86-64 with LA57): numbers from here to 2^64 are addresses. */
const LOWEST_KERNEL_ADDRESS = 0xff00_0000_0000_0000;
const TWO_64 = 2 ** 64;

/** Whether the request carries the API token (constant-time compare); never without a token set. */
export function hasApiToken(req: FastifyRequest, token: string | undefined): boolean {
  if (!token) return false;
  const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(token);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

export function redactText(s: string): string {
  return s.replace(ADDRESS_TEXT, REDACTED);
}

export function isKernelAddressNumber(n: number): boolean {
  return n >= LOWEST_KERNEL_ADDRESS && n < TWO_64;
}

/**
 * `v` with every number in the kernel's address range replaced; the same object when there is
 * none (copy on write: the state and the store are never modified).
 */
export function redactNumbers(v: unknown): unknown {
  if (typeof v === 'number') return isKernelAddressNumber(v) ? REDACTED : v;
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    let out: unknown[] | null = null;
    for (let i = 0; i < v.length; i++) {
      const x = redactNumbers(v[i]);
      if (x !== v[i]) (out ??= v.slice())[i] = x;
    }
    return out ?? v;
  }
  // Only plain data: a Date, a Buffer… serialise by their own rules.
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) return v;
  let out: Record<string, unknown> | null = null;
  for (const [k, x] of Object.entries(v)) {
    const y = redactNumbers(x);
    if (y !== x) (out ??= { ...(v as Record<string, unknown>) })[k] = y;
  }
  return out ?? v;
}

/** Install the redaction on every response of `app` that lacks the token. */
export function redactResponses(app: FastifyInstance, token: string | undefined): void {
  app.addHook('preSerialization', async (req, _reply, payload) =>
    hasApiToken(req, token) ? payload : redactNumbers(payload),
  );
  app.addHook('onSend', async (req, _reply, payload) => {
    if (hasApiToken(req, token)) return payload;
    if (typeof payload === 'string') return redactText(payload);
    if (Buffer.isBuffer(payload)) return Buffer.from(redactText(payload.toString('latin1')), 'latin1');
    return payload;
  });
}
