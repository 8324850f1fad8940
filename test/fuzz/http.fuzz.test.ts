/**
 * The HTTP API under arbitrary requests (issue 13): query strings, paths, headers and bodies, for
 * every route, against the app the daemon serves (src/daemon/http.ts httpApp) over a journal whose
 * record holds kernel addresses in every field. For every request:
 *   - no 5xx (the world is ready and scanned, so no 503 is state's either);
 *   - every 4xx is JSON with a catalogued DAXMON_E_API_* code;
 *   - without the API token, no kernel address in the body, by an oracle independent of the
 *     redactor (test/helpers/address-oracle.ts): hex, decimal, signed, JSON numbers alike.
 * Kept inputs (test/fuzz/corpus/http/*.json: one request each, `{method,url,headers?,payload?}`,
 * `repeat` to blow `payload` up) are replayed first.
 */
import type { InjectOptions } from 'fastify';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATALOGUE, isErrorCode } from '../../src/errors.js';
import { leakedAddress } from '../helpers/address-oracle.js';
import {
  ADDRESSES,
  TOKEN,
  addressRecord,
  httpWorld,
  journalWith,
  type HttpWorld,
} from '../helpers/http-world.js';
import { corpus, fuzzAsync } from './budget.js';

let w: HttpWorld;
const figures = { runs: 0, requests: 0, fiveXx: 0, skipped: 0 };

beforeAll(async () => {
  const dir = journalWith([
    addressRecord('v1', '2020-12-31T23:59:59.500Z'),
    addressRecord('v2', '2026-11-25T12:00:00.000Z'),
  ]);
  w = await httpWorld({ journalDir: dir, apiToken: TOKEN });
});
afterAll(async () => {
  console.log(
    `http fuzz: ${figures.requests} requests (${figures.runs} random cases + corpus), ${figures.fiveXx} 5xx, ${figures.skipped} refused by the injector`,
  );
  await w.app.close();
});

/** Send one request and check the three properties; false when the injector refuses the input. */
async function check(req: InjectOptions): Promise<boolean> {
  let r;
  try {
    r = await w.app.inject(req);
  } catch (err) {
    // light-my-request refuses what no HTTP client could send (a header value with a newline…).
    if (err instanceof TypeError || (err as { code?: string }).code?.startsWith('ERR_')) {
      figures.skipped++;
      return false;
    }
    throw err;
  }
  figures.requests++;
  const what = `${req.method} ${String(req.url)} → ${r.statusCode} ${r.body.slice(0, 300)}`;
  if (r.statusCode >= 500) figures.fiveXx++;
  expect(r.statusCode, what).toBeLessThan(500);
  if (r.statusCode >= 400 && req.method !== 'HEAD') {
    const body = JSON.parse(r.body) as { code?: unknown };
    expect(isErrorCode(body.code), what).toBe(true);
    const info = CATALOGUE[body.code as keyof typeof CATALOGUE] as { area: string; httpStatus?: number };
    expect(info.area, what).toBe('api');
    expect(info.httpStatus, what).toBe(r.statusCode);
  }
  const auth = (req.headers as Record<string, unknown> | undefined)?.authorization;
  const authed = typeof auth === 'string' && /^bearer +(.+)$/i.exec(auth)?.[1] === TOKEN;
  // The oracle reads the body as text: a JSON number is text there too.
  if (!authed) expect(leakedAddress(r.body), what).toBeUndefined();
  return true;
}

// ---- generators ----------------------------------------------------------------------------------

const address = fc.constantFrom(...Object.values(ADDRESSES).map(String), '0x' + 'f'.repeat(16));
/** Text a client might put anywhere: plausible tokens, addresses, junk, percent-escapes. */
const text = fc.oneof(
  fc.string({ maxLength: 24 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  address,
  fc.constantFrom(
    '%',
    '%zz',
    '%00',
    '%25',
    '..',
    '/',
    '?',
    '#',
    '&',
    '=',
    '+',
    ';',
    '\\',
    '%E0%A4%A',
    '%C0%AF',
  ),
  fc.integer({ min: -1, max: 2 ** 53 }).map(String),
  fc.constantFrom(
    'pm0',
    'pm1',
    'pm65535',
    'v1',
    'v2',
    'v0',
    'v99999999999999999999',
    'map_zero_ref',
    'error',
  ),
);
const dateTime = fc.oneof(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc
    .tuple(
      fc.integer({ min: 0, max: 9999 }),
      fc.integer({ min: 0, max: 13 }),
      fc.integer({ min: 0, max: 32 }),
      fc.integer({ min: 0, max: 24 }),
      fc.integer({ min: 0, max: 60 }),
      fc.integer({ min: 0, max: 61 }),
      fc.constantFrom('', '.5', '.123456789'),
      fc.constantFrom('Z', 'z', '+00:00', '-23:59', '+24:00', '+01:30', ''),
      fc.constantFrom('T', 't', ' '),
    )
    .map(
      ([y, mo, d, h, mi, s, frac, off, sep]) =>
        `${String(y).padStart(4, '0')}-${p2(mo)}-${p2(d)}${sep}${p2(h)}:${p2(mi)}:${p2(s)}${frac}${off}`,
    ),
  text,
);
function p2(n: number): string {
  return String(n).padStart(2, '0');
}
const queryValue = fc.oneof(text, dateTime, fc.integer({ min: -5, max: 5000 }).map(String));
const QUERY_KEYS = ['kind', 'severity', 'pgmap', 'since', 'until', 'before', 'limit', 'from', 'count'];
const query = fc.oneof(
  fc.constant(''),
  fc
    .array(fc.tuple(fc.oneof(fc.constantFrom(...QUERY_KEYS), text), queryValue), { maxLength: 4 })
    .map((kv) => '?' + kv.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')),
  // raw, unencoded: repeated keys, bare keys, stray separators
  fc
    .array(fc.oneof(fc.constantFrom(...QUERY_KEYS), text, dateTime), { maxLength: 4 })
    .map((xs) => '?' + xs.join('&')),
);
const segment = fc.oneof(text, fc.string({ maxLength: 8 }).map(encodeURIComponent));
const path = fc.oneof(
  fc.constantFrom(
    '/',
    '/metrics',
    '/healthz',
    '/readyz',
    '/api/state',
    '/api/pgmaps',
    '/api/violations',
    '/api/checks',
  ),
  segment.map((s) => `/api/pgmaps/${s}`),
  segment.map((s) => `/api/pgmaps/${s}/pages`),
  fc.constant('/api/pgmaps/pm0/pages'),
  segment.map((s) => `/api/violations/${s}`),
  fc.array(segment, { minLength: 1, maxLength: 4 }).map((xs) => '/' + xs.join('/')),
  fc.constantFrom(
    '//api/state',
    '/api/state/',
    '/API/STATE',
    '/api/violations/',
    '/api//violations',
    '/api/pgmaps/pm0/pages/',
  ),
);
const method = fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS');
const headerValue = fc.oneof(
  fc.stringMatching(/^[\x20-\x7e]{0,40}$/),
  address,
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'text/plain',
    'multipart/form-data; boundary=x',
    'application/x-www-form-urlencoded',
    '*/*',
    '',
  ),
);
const headers = fc.record(
  {
    authorization: fc.oneof(
      fc.constant(`Bearer ${TOKEN}`),
      fc.constant('Bearer'),
      headerValue.map((v) => `Bearer ${v}`),
      headerValue,
    ),
    'content-type': headerValue,
    accept: headerValue,
    'accept-encoding': fc.constantFrom('gzip', 'br', 'identity', '*'),
    'x-forwarded-for': headerValue,
    'if-none-match': headerValue,
  },
  { requiredKeys: [] },
);
const payload = fc.option(
  fc.oneof(
    fc.string({ maxLength: 64 }),
    fc.json({ maxDepth: 3 }),
    fc.constantFrom('{', '[1,', '{"__proto__":{"x":1}}', 'null', '""', `"${ADDRESSES.prefixed}"`),
    fc.integer({ min: 16_000, max: 20_000 }).map((n) => 'x'.repeat(n)),
  ),
  { nil: undefined },
);

const request = fc
  .record({ method, path, query, headers, payload })
  .map(({ method: m, path: p, query: q, headers: h, payload: b }): InjectOptions => ({
    method: m as InjectOptions['method'],
    url: p + q,
    headers: h,
    ...(b !== undefined && m !== 'GET' && m !== 'HEAD' ? { payload: b } : {}),
  }));

// ---- the properties --------------------------------------------------------------------------------

describe('HTTP API fuzz', () => {
  const kept = corpus('http');

  it('the kept inputs (test/fuzz/corpus/http) answer without a 5xx, a code, or a leak', async () => {
    expect(kept.length).toBeGreaterThan(0);
    for (const k of kept) {
      const c = JSON.parse(k.bytes.toString('utf8')) as InjectOptions & { repeat?: number };
      const { repeat, ...req } = c;
      if (repeat !== undefined && typeof req.payload === 'string') req.payload = req.payload.repeat(repeat);
      expect(await check(req), k.name).toBe(true);
    }
  });

  it('arbitrary requests to every route', async () => {
    await fuzzAsync(
      fc.asyncProperty(request, async (req) => {
        await check(req);
      }),
      figures,
    );
  });

  it('arbitrary raw URLs', async () => {
    await fuzzAsync(
      fc.asyncProperty(
        fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: 'binary', maxLength: 30 })),
        method,
        async (raw, m) => {
          await check({ method: m as InjectOptions['method'], url: raw.startsWith('/') ? raw : `/${raw}` });
        },
      ),
      figures,
    );
  });
});
