/**
 * Issue 13 item 12: raw kernel addresses reach only a client with the API token, whatever wrote
 * the record. A journal (as `daxmon replay --journal-dir` or any other writer leaves it) holds
 * addresses in every kind of field; served without the token none is left, with it all are.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_DEPTH, REDACTED, TOO_DEEP, redactNumbers, redactText } from '../../src/server/redact.js';
import {
  ADDRESSES,
  TOKEN,
  addressRecord,
  httpWorld,
  journalWith,
  type HttpWorld,
} from '../helpers/http-world.js';
import { leakedAddress } from '../helpers/address-oracle.js';

const ADDRESS_NUMBER = ADDRESSES.number;

let w: HttpWorld;
beforeAll(async () => {
  w = await httpWorld({
    journalDir: journalWith([addressRecord('v1', '2026-11-25T12:00:00.000Z')]),
    apiToken: TOKEN,
  });
});
afterAll(() => w.app.close());

const ROUTES = [
  '/api/violations',
  '/api/violations/v1',
  '/api/state',
  '/api/pgmaps',
  '/api/pgmaps/pm0',
  '/api/pgmaps/pm0/pages?count=4',
  '/api/pgmaps/pm0/map?cells=64',
  '/view/view.js',
  '/view/view.css',
  '/api/checks',
  '/',
  '/metrics',
  '/healthz',
  '/readyz',
  // a client's own input echoed in an error
  `/api/violations/${ADDRESSES.prefixed}`,
  `/api/pgmaps/${ADDRESSES.bare}`,
  `/no/such/${ADDRESSES.upper}`,
  `/api/violations?before=${ADDRESSES.bare}`,
];

describe('without the token', () => {
  it.each(ROUTES)('%s shows no kernel address', async (url) => {
    for (const headers of [
      {},
      { authorization: 'Bearer wrong-token-0123456789' },
      { authorization: TOKEN },
      { authorization: `Bearer ${TOKEN}x` },
    ]) {
      const r = await w.app.inject({ url, headers });
      expect(r.statusCode).toBeLessThan(500);
      expect(leakedAddress(r.body), url).toBeUndefined();
    }
  });

  it('every field of the journaled record is redacted, and the rest kept', async () => {
    const v = (await w.app.inject({ url: '/api/violations/v1' })).json();
    expect(v.pfn).toBe(REDACTED);
    expect(v.pgmap.device).toBe(REDACTED);
    expect(v.comm).toBe(`kworker/${REDACTED}`);
    expect(v.stack).toEqual([
      `${REDACTED} dax_insert_entry+0x12/0x40`,
      `vmf_insert_page_mkwrite+0x1a/0x80 [${REDACTED}]`,
      REDACTED,
      `xfs_dax_fault+0x33/0x90 [xfs] ${REDACTED}`,
    ]);
    expect(v.recentEvents[0]).toMatchObject({ comm: REDACTED, refcount: REDACTED, mapcount: 1 });
    expect(v.details).toEqual({
      '[redacted#1]': 'key',
      nested: { deeper: [REDACTED, REDACTED, { x: `${REDACTED}!` }] },
      address: REDACTED,
      decimal: `decimal ${REDACTED}`,
      comm: REDACTED,
      negative: REDACTED,
      negativeText: `signed ${REDACTED}`,
      top: REDACTED,
      keys: { '[redacted#1]': 1, '[redacted#2]': 2 },
    });
    expect(v.message).toBe(`folio at ${REDACTED} mapped with refcount 0 (page ${REDACTED})`);
    expect(v).toMatchObject({ id: 'v1', pid: 42, observed: { refcount: 0, mapcount: 1 } });
  });

  it('the pgmap keys stay out of the pgmaps', async () => {
    const p = (await w.app.inject({ url: '/api/pgmaps/pm0' })).json();
    expect(p.kernelKey).toBeUndefined();
  });
});

describe('with the token', () => {
  const auth = { authorization: `Bearer ${TOKEN}` };
  it('the scheme in any case (RFC 7235 §2.1)', async () => {
    for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
      const v = (
        await w.app.inject({ url: '/api/violations/v1', headers: { authorization: `${scheme} ${TOKEN}` } })
      ).json();
      expect(v.pfn).toBe(ADDRESS_NUMBER);
    }
  });
  it('the record is served as written', async () => {
    const v = (await w.app.inject({ url: '/api/violations/v1', headers: auth })).json();
    expect(v).toEqual(addressRecord('v1', '2026-11-25T12:00:00.000Z'));
    expect((await w.app.inject({ url: '/api/pgmaps/pm0', headers: auth })).json().kernelKey).toBe(
      '0xffff888100a00000',
    );
  });
});

describe('the oracle (test/helpers/address-oracle.ts) sees every form the fixtures hold', () => {
  it.each(Object.entries(ADDRESSES))('%s: %s', (_name, a) => expect(leakedAddress(`x ${a} y`)).toBeDefined());
  it('and none of the values that are not addresses', () =>
    expect(
      leakedAddress(
        'pfn 4503599627370495 -1 -4294967295 18374686479671623679 a18446744072645460675 ffffffffc0a1b2c3d4',
      ),
    ).toBeUndefined());
});

describe('what counts as an address', () => {
  it.each([
    ['0xffffffff81234567', REDACTED],
    ['ffff888100a00000', REDACTED],
    ['0XFF11000012345678', REDACTED],
    ['a=ffffffffc0a1b2c3,', `a=${REDACTED},`],
    // not addresses: too short, too long (a hash), not the kernel's half, a pfn
    ['ffffffff8123456', 'ffffffff8123456'],
    ['ffffffffc0a1b2c3d4', 'ffffffffc0a1b2c3d4'],
    ['00007fff81234567', '00007fff81234567'],
    ['0x140000', '0x140000'],
    // decimal: unsigned (19–20 digits, exact), signed (an address read as int64), the top
    ['decimal 18446612686384676864', `decimal ${REDACTED}`],
    ['"comm":"18446744072645460675"', `"comm":"${REDACTED}"`],
    ['18374686479671623680', REDACTED], // 0xff00000000000000
    ['18446744073709551616', REDACTED], // 2^64: 0xfffffffffffffc00 and above as a double
    ['x -131941395333120 y', `x ${REDACTED} y`],
    ['-72057594037927936', REDACTED], // 0xff00000000000000 signed
    // not addresses: below the kernel half, above 2^64, a longer run, small negatives, a pfn, a hash
    ['18374686479671623679', '18374686479671623679'],
    ['18446744073709552000', REDACTED], // 2^64 as JavaScript prints the double
    ['18446744073709560000', '18446744073709560000'],
    ['184467440726454606750', '184467440726454606750'],
    ['a18446744072645460675', 'a18446744072645460675'],
    ['-4294967295', '-4294967295'],
    ['-4294967296', REDACTED], // 0xffffffff00000000 signed
    ['-72057594037927937', '-72057594037927937'],
    ['-1', '-1'],
    ['4503599627370495', '4503599627370495'],
    ['12345678901234567890', '12345678901234567890'],
  ])('%s → %s', (s, out) => expect(redactText(s)).toBe(out));

  it('numbers in the kernel half only, and the input is never modified', () => {
    const v = { a: [1, ADDRESS_NUMBER, 2 ** 53], b: { c: 0xff00000000000000 }, d: 'x' };
    const r = redactNumbers(v) as typeof v;
    expect(r).toEqual({ a: [1, REDACTED, 2 ** 53], b: { c: REDACTED }, d: 'x' });
    expect(v.a[1]).toBe(ADDRESS_NUMBER);
    const top = Number(BigInt('0xfffffffffffffc00'));
    expect(redactNumbers([top, -131941395333120, -(2 ** 32), -(2 ** 32) + 1, 2 ** 52, -1])).toEqual([
      REDACTED,
      REDACTED,
      REDACTED,
      -(2 ** 32) + 1,
      2 ** 52,
      -1,
    ]);
    const clean = { a: [1, 2], b: { c: 'x' } };
    expect(redactNumbers(clean)).toBe(clean);
  });
});

describe('depth', () => {
  it('a payload of any depth is walked without recursion and bounded (no stack overflow, no 500)', () => {
    let deep: unknown = ADDRESSES.number;
    for (let i = 0; i < 200_000; i++) deep = i % 2 ? [deep] : { a: deep };
    for (const redact of [true, false]) {
      const r = redactNumbers(deep, redact);
      const text = JSON.stringify(r);
      expect(text).toContain(TOO_DEEP);
      let depth = 0;
      for (
        let x = r;
        typeof x === 'object' && x !== null;
        x = Array.isArray(x) ? x[0] : (x as { a: unknown }).a
      )
        depth++;
      expect(depth).toBe(MAX_DEPTH);
    }
  });

  it('a deeply nested journal record is never a 500: the journal counts it damaged, the API says so', async () => {
    const n = 100_000;
    const json = JSON.stringify({ ...addressRecord('v9', '2026-11-25T12:00:00.000Z'), details: 0 });
    const record = json.replace('"details":0', `"details":${'{"a":'.repeat(n)}1${'}'.repeat(n)}`);
    const dw = await httpWorld({ journalDir: journalWith([record]), apiToken: TOKEN });
    try {
      for (const headers of [{}, { authorization: `Bearer ${TOKEN}` }]) {
        const one = await dw.app.inject({ url: '/api/violations/v9', headers });
        expect(one.statusCode).toBe(404);
        expect(one.json().code).toMatch(/^DAXMON_E_API_/);
        const list = await dw.app.inject({ url: '/api/violations', headers });
        expect(list.statusCode).toBe(200);
        expect(list.json().damagedRecords).toBe(1);
      }
    } finally {
      await dw.app.close();
    }
  });
});
