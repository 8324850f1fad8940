/**
 * Issue 13 item 12: raw kernel addresses reach only a client with the API token, whatever wrote
 * the record. A journal (as `daxmon replay --journal-dir` or any other writer leaves it) holds
 * addresses in every kind of field; served without the token none is left, with it all are.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDACTED, redactNumbers, redactText } from '../../src/server/redact.js';
import {
  ADDRESSES,
  KERNEL_ADDRESS,
  TOKEN,
  addressRecord,
  httpWorld,
  journalWith,
  type HttpWorld,
} from '../helpers/http-world.js';

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
    ]) {
      const r = await w.app.inject({ url, headers });
      expect(r.statusCode).toBeLessThan(500);
      expect(r.body).not.toMatch(KERNEL_ADDRESS);
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
      [REDACTED]: 'key',
      nested: { deeper: [REDACTED, REDACTED, { x: `${REDACTED}!` }] },
      address: REDACTED,
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
  it('the record is served as written', async () => {
    const v = (await w.app.inject({ url: '/api/violations/v1', headers: auth })).json();
    expect(v).toEqual(addressRecord('v1', '2026-11-25T12:00:00.000Z'));
    expect((await w.app.inject({ url: '/api/pgmaps/pm0', headers: auth })).json().kernelKey).toBe(
      '0xffff888100a00000',
    );
  });
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
  ])('%s → %s', (s, out) => expect(redactText(s)).toBe(out));

  it('numbers in the kernel half only, and the input is never modified', () => {
    const v = { a: [1, ADDRESS_NUMBER, 2 ** 53], b: { c: 0xff00000000000000 }, d: 'x' };
    const r = redactNumbers(v) as typeof v;
    expect(r).toEqual({ a: [1, REDACTED, 2 ** 53], b: { c: REDACTED }, d: 'x' });
    expect(v.a[1]).toBe(ADDRESS_NUMBER);
    const clean = { a: [1, 2], b: { c: 'x' } };
    expect(redactNumbers(clean)).toBe(clean);
  });
});
