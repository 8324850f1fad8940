/**
 * Raw kernel addresses leave daxmon only to a client presenting the API token (`--api-token-file`,
 * `Authorization: Bearer <token>`, the scheme in any case as RFC 7235 §2.1 says). The handlers
 * already leave the pgmap keys out, but a record daxmon did not write itself (a journal from
 * `daxmon replay --journal-dir`, an older daxmon, a hand-edited file) or a client's own input
 * echoed in an error can carry one anywhere: so every response is redacted once more on its way
 * out, whatever the route and whatever wrote the data.
 *
 * Two hooks, one rule: `preSerialization` walks the payload (iteratively, to a bounded depth) and
 * replaces numbers in the kernel's half of the address space (a JSON number cannot be told apart
 * once serialised) and address-looking object keys (each its own name, `[redacted#1]`,
 * `[redacted#2]`…, so a client's parser keeps every entry); `onSend` replaces every
 * address-looking run of text in the serialised body (JSON strings, stack frames such as
 * `func+0x12/0x40 [ffffffffc0a1b2c3]`, the HTML page, the metrics text).
 *
 * The kernel's half: [0xff00000000000000, 2^64). x86-64 and arm64 kernels live there with 4- and
 * 5-level page tables alike (x86-64 from 0xff00000000000000 with LA57, arm64 from
 * 0xfff0000000000000 with 52-bit VAs). What is redacted, as text or as a JSON number:
 *   - hex: 16 hex digits starting with `ff`, with or without `0x`/`0X`, any case (`%px`, `%lx`);
 *   - unsigned decimal: a 19–20-digit run whose value (read exactly, with BigInt) is in the
 *     kernel's half or is 2^64 itself (what 0xfffffffffffffc00 and above round to as a double),
 *     or which reads as that double (`18446744073709552000`, how JavaScript prints it);
 *   - signed decimal: an address read as a signed 64-bit number, `-2^56 … -2^32`
 *     (0xff00000000000000 … 0xffffffff00000000: the direct map 0xffff888…, vmalloc 0xffffc9…,
 *     vmemmap 0xffffea…; note -2^47 is 0xffff800000000000, the *lowest* 4-level address, so a
 *     bound at -2^47 would miss them all).
 * Not redacted, to keep false positives out: any run that is part of a longer hex or decimal run
 * (a hash, a 21+-digit id); pfns and counters (below 2^52, far below the kernel's half); negative
 * numbers above -2^32 — where the kernel text and modules (0xffffffff8…, 0xffffffffc…, about
 * -2^31 signed) fall too, but so do -1 and every ordinary signed value, and daxmon itself never
 * prints an address signed; exponent forms (`1.8e19`) and addresses split by spaces, which no
 * daxmon output makes.
 */
import crypto from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';

export const REDACTED = '[redacted]';
/** What stands for the parts of a payload nested deeper than MAX_DEPTH. */
export const TOO_DEEP = '[too deep]';
/**
 * Nesting kept in a response. JSON.stringify recurses, so a body nested thousands deep (a
 * hand-made journal record) would overflow the stack and answer 500; nothing daxmon writes comes
 * near this depth.
 */
export const MAX_DEPTH = 64;

const HEX_ADDRESS = /(?<![0-9a-fA-F])(?:0[xX])?[fF]{2}[0-9a-fA-F]{14}(?![0-9a-fA-F])/g;
/** Decimal runs that may be an address: 19–20 digits, or 10–17 after a minus sign. */
const DECIMAL_CANDIDATE = /(?<![0-9a-fA-F])(?:\d{19,20}|-\d{10,17})(?![0-9a-fA-F])/g;
const LOWEST_KERNEL_ADDRESS = 0xff00_0000_0000_0000n;
const TWO_64 = 1n << 64n;
const LOWEST_SIGNED = -(1n << 56n);
const HIGHEST_SIGNED = -(1n << 32n);

/** Whether the request carries the API token (constant-time compare); never without a token set. */
export function hasApiToken(req: FastifyRequest, token: string | undefined): boolean {
  if (!token) return false;
  const m = /^bearer +(.+)$/i.exec(req.headers.authorization ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(token);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

function isKernelAddressInteger(n: bigint): boolean {
  return (n >= LOWEST_KERNEL_ADDRESS && n <= TWO_64) || (n >= LOWEST_SIGNED && n <= HIGHEST_SIGNED);
}

/**
 * A decimal run names an address when its exact value does, or when it is how a double of 2^64
 * prints (`18446744073709552000`, above 2^64 exactly: JavaScript prints the shortest decimal that
 * reads back as the same double).
 */
function isAddressDecimal(d: string): boolean {
  return isKernelAddressInteger(BigInt(d)) || Number(d) === 2 ** 64;
}

export function redactText(s: string): string {
  return s
    .replace(HEX_ADDRESS, REDACTED)
    .replace(DECIMAL_CANDIDATE, (d) => (isAddressDecimal(d) ? REDACTED : d));
}

export function isKernelAddressNumber(n: number): boolean {
  return Number.isInteger(n) && isKernelAddressInteger(BigInt(n));
}

/** Key `k` redacted, each address in it numbered so that no two keys of one object collide. */
function redactKey(k: string, next: () => number): string {
  const r = redactText(k);
  return r === k ? k : r.replaceAll(REDACTED, () => `[redacted#${next()}]`);
}

function isPlain(v: object): boolean {
  if (Array.isArray(v)) return true;
  // Only plain data: a Date, a Buffer… serialise by their own rules.
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * `v` bounded to MAX_DEPTH and, with `redact`, with every number in the kernel's range and every
 * address-looking key replaced; the same object when nothing changes (the state and the store
 * are never modified). Iterative: a payload of any depth is walked without recursion.
 */
export function redactNumbers(v: unknown, redact = true): unknown {
  if (typeof v === 'number') return redact && isKernelAddressNumber(v) ? REDACTED : v;
  if (typeof v !== 'object' || v === null || !isPlain(v) || !needsChange(v, redact)) return v;
  const root: unknown[] = [];
  // Each frame: a source container, its copy, and the copy's depth (the root is at depth 1).
  const stack: [object, unknown[] | Record<string, unknown>, number][] = [];
  const copy = (x: unknown, depth: number): unknown => {
    if (typeof x === 'number') return redact && isKernelAddressNumber(x) ? REDACTED : x;
    if (typeof x !== 'object' || x === null || !isPlain(x)) return x;
    if (depth > MAX_DEPTH) return TOO_DEEP;
    const out: unknown[] | Record<string, unknown> = Array.isArray(x) ? new Array<unknown>(x.length) : {};
    stack.push([x, out, depth]);
    return out;
  };
  root.push(copy(v, 1));
  for (let f = stack.pop(); f; f = stack.pop()) {
    const [src, out, depth] = f;
    if (Array.isArray(src)) {
      for (let i = 0; i < src.length; i++) (out as unknown[])[i] = copy(src[i], depth + 1);
    } else {
      let n = 0;
      const next = () => ++n;
      for (const [k, x] of Object.entries(src)) {
        const key = redact ? redactKey(k, next) : k;
        Object.defineProperty(out, key, {
          value: copy(x, depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
    }
  }
  return root[0];
}

/** Whether redactNumbers(v, redact) would change anything (an iterative scan, no allocation per value). */
function needsChange(v: object, redact: boolean): boolean {
  const stack: [object, number][] = [[v, 1]];
  for (let f = stack.pop(); f; f = stack.pop()) {
    const [x, depth] = f;
    if (depth > MAX_DEPTH) return true;
    const arr = Array.isArray(x);
    for (const k in x) {
      if (!Object.prototype.hasOwnProperty.call(x, k)) continue;
      if (redact && !arr && redactText(k) !== k) return true;
      const y = (x as Record<string, unknown>)[k];
      if (typeof y === 'number') {
        if (redact && isKernelAddressNumber(y)) return true;
      } else if (typeof y === 'object' && y !== null && isPlain(y)) stack.push([y, depth + 1]);
    }
  }
  return false;
}

/** Install the redaction on every response of `app` that lacks the token, and the depth bound on all. */
export function redactResponses(app: FastifyInstance, token: string | undefined): void {
  app.addHook('preSerialization', async (req, _reply, payload) =>
    redactNumbers(payload, !hasApiToken(req, token)),
  );
  app.addHook('onSend', async (req, _reply, payload) => {
    if (hasApiToken(req, token)) return payload;
    if (typeof payload === 'string') return redactText(payload);
    if (Buffer.isBuffer(payload)) return Buffer.from(redactText(payload.toString('latin1')), 'latin1');
    return payload;
  });
}
