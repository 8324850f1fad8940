/**
 * Issue 13 item 11: no request makes the API answer a 5xx, every 4xx carries its own catalogued
 * DAXMON_E_API_* code, and a 5xx (a bug) is logged with its cause.
 */
import net from 'node:net';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATALOGUE, codesOf } from '../../src/errors.js';
import { apiError, statusOf } from '../../src/server/api-errors.js';
import { isoInstant } from '../../src/server/query-time.js';
import { addressRecord, httpWorld, journalWith, type HttpWorld } from '../helpers/http-world.js';

let w: HttpWorld;
beforeAll(async () => {
  const dir = journalWith([
    addressRecord('v1', '2020-12-31T23:59:59.500Z'),
    addressRecord('v2', '2021-01-01T00:00:00.000Z'),
  ]);
  w = await httpWorld({ journalDir: dir });
});
afterAll(() => w.app.close());

const ids = (body: string) => (JSON.parse(body) as { items: { id: string }[] }).items.map((v) => v.id);

describe('leap seconds in since= and until=', () => {
  it('since=…23:59:60Z is 200 and keeps what came after the leap second', async () => {
    const r = await w.app.inject({ url: '/api/violations?since=2020-12-31T23:59:60Z' });
    expect(r.statusCode).toBe(200);
    expect(ids(r.body)).toEqual(['v2']);
  });

  it('since= beyond year 9999 is a 400, not every violation', async () => {
    const r = await w.app.inject({ url: '/api/violations?since=9999-12-31T23:59:59-23:59' });
    expect(r.statusCode).toBe(400);
    expect(r.json().code).toBe('DAXMON_E_API_QUERY');
    const u = await w.app.inject({ url: '/api/violations?until=0000-01-01T00:00:00%2B01:00' });
    expect(u.statusCode).toBe(400);
  });

  it('until=…23:59:60Z is 200 and keeps what came before it', async () => {
    const r = await w.app.inject({ url: '/api/violations?until=2020-12-31T23:59:60Z' });
    expect(r.statusCode).toBe(200);
    expect(ids(r.body)).toEqual(['v1']);
  });

  it.each([
    ['2020-12-31T23:59:60Z', '2020-12-31T23:59:59.999Z'],
    ['2021-01-01T00:59:60+01:00', '2020-12-31T23:59:59.999Z'],
    ['2026-11-25T12:00:00.1234Z', '2026-11-25T12:00:00.123Z'],
    ['2026-11-25t13:30:00+01:30', '2026-11-25T12:00:00.000Z'],
    ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00.000Z'],
    ['0000-01-01T00:00:00Z', '0000-01-01T00:00:00.000Z'],
    ['0000-01-01T00:00:00-01:00', '0000-01-01T01:00:00.000Z'],
    ['9999-12-31T23:59:60Z', '9999-12-31T23:59:59.999Z'],
    ['9999-12-31T23:59:59+23:59', '9999-12-31T00:00:59.000Z'],
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000Z'],
  ])('isoInstant(%s) = %s', (s, iso) => expect(isoInstant('since', s)).toBe(iso));

  it.each([
    '2023-02-29T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-01-01T24:00:00Z',
    '2026-01-01T00:00:61Z',
    'now',
    // outside years 0000–9999 UTC once the offset is applied (a six-digit ISO year)
    '9999-12-31T23:59:59-23:59',
    '9999-12-31T23:59:60-00:01',
    '0000-01-01T00:00:00+01:00',
    '0000-01-01T00:00:00.000+00:01',
  ])('isoInstant(%s) is a DAXMON_E_API_QUERY error', (s) =>
    expect(() => isoInstant('since', s)).toThrow(expect.objectContaining({ code: 'DAXMON_E_API_QUERY' })),
  );
});

describe('framework errors carry their own catalogued code', () => {
  it.each([
    [
      'a malformed JSON body',
      {
        method: 'POST',
        url: '/api/state',
        payload: '{"a":',
        headers: { 'content-type': 'application/json' },
      },
      400,
      'DAXMON_E_API_BODY',
    ],
    [
      'an empty JSON body',
      { method: 'DELETE', url: '/api/state', payload: '', headers: { 'content-type': 'application/json' } },
      400,
      'DAXMON_E_API_BODY',
    ],
    [
      'a 20 KB body',
      {
        method: 'POST',
        url: '/api/state',
        payload: `{"a":"${'x'.repeat(20_000)}"}`,
        headers: { 'content-type': 'application/json' },
      },
      413,
      'DAXMON_E_API_BODY_TOO_LARGE',
    ],
    ['an undecodable URL', { method: 'GET', url: '/api/violations/%' }, 400, 'DAXMON_E_API_BAD_URL'],
    ['an undecodable pgmap id', { method: 'GET', url: '/api/pgmaps/%zz/pages' }, 400, 'DAXMON_E_API_BAD_URL'],
    ['an unknown route', { method: 'GET', url: '/api/nope' }, 404, 'DAXMON_E_API_NOT_FOUND'],
    [
      'a method no route serves',
      { method: 'PUT', url: '/metrics', payload: 'x', headers: { 'content-type': 'text/plain' } },
      404,
      'DAXMON_E_API_NOT_FOUND',
    ],
    ['a misspelt filter', { method: 'GET', url: '/api/violations?knd=x' }, 400, 'DAXMON_E_API_QUERY'],
  ] as const)('%s', async (_what, req, status, code) => {
    const r = await w.app.inject(req as InjectOptions);
    expect(r.statusCode).toBe(status);
    expect(r.json()).toMatchObject({ code });
    expect(CATALOGUE[code as keyof typeof CATALOGUE]).toMatchObject({ area: 'api', httpStatus: status });
  });

  it('a request line Node cannot parse is answered in the API shape (clientErrorHandler)', async () => {
    await w.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (w.app.server.address() as net.AddressInfo).port;
    const raw = await new Promise<string>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1', () =>
        c.write('GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n'),
      );
      let out = '';
      c.on('data', (d) => (out += d.toString()));
      c.on('end', () => resolve(out));
      c.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))).toMatchObject({
      code: 'DAXMON_E_API_REQUEST',
    });
  });
});

describe('a bug is a logged 500', () => {
  it('answers DAXMON_E_API_INTERNAL and logs the cause with errorLogFields', async () => {
    const f = await httpWorld({ failingBackends: true });
    const r = await f.app.inject({ url: '/api/state' });
    expect(r.statusCode).toBe(500);
    expect(r.json()).toMatchObject({ code: 'DAXMON_E_API_INTERNAL' });
    const line = f.logLines.find((l) => l.msg === 'HTTP request failed');
    expect(line).toMatchObject({
      level: 50,
      err: 'backend table corrupt (test)',
      method: 'GET',
      url: '/api/state',
    });
    expect(String(line?.stack)).toContain('backend table corrupt');
    await f.app.close();
  });
});

describe('the API codes', () => {
  it('every api code has an HTTP status, and apiError answers with it', () => {
    for (const code of codesOf('api')) {
      expect(statusOf(code)).toBe(CATALOGUE[code].httpStatus);
      expect(apiError(code, 'm').code).toBe(code);
    }
    // Typecheck-only (never called): an uncatalogued code does not compile.
    // @ts-expect-error DAXMON_E_API_NOPE is not in the catalogue
    const uncatalogued = () => apiError('DAXMON_E_API_NOPE', 'm');
    expect(typeof uncatalogued).toBe('function');
  });
});
