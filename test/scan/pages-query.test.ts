import { describe, expect, it } from 'vitest';
import { MAX_PAGES_PER_REQUEST, parsePagesQuery } from '../../src/scan/pages-query.js';

describe('/api/pgmaps/:id/pages parameters', () => {
  it('defaults to 64 pages from the first pfn and accepts decimal or hex pfns', () => {
    expect(parsePagesQuery({})).toEqual({ ok: true, fromPfn: null, count: 64 });
    expect(parsePagesQuery({ from: '0x140000', count: '16' })).toEqual({
      ok: true,
      fromPfn: 0x140000,
      count: 16,
    });
    expect(parsePagesQuery({ from: '1310720' })).toMatchObject({ fromPfn: 1310720 });
  });

  it('bounds count and rejects garbage with a message naming the parameter', () => {
    expect(parsePagesQuery({ count: String(MAX_PAGES_PER_REQUEST + 1) })).toMatchObject({
      ok: false,
      message: /count must be/,
    });
    expect(parsePagesQuery({ count: '0' })).toMatchObject({ ok: false });
    expect(parsePagesQuery({ from: '-1' })).toMatchObject({ ok: false, message: /from must be a pfn/ });
    expect(parsePagesQuery({ from: '12abc' })).toMatchObject({ ok: false });
    expect(parsePagesQuery({ frm: '1' })).toMatchObject({ ok: false, message: /unknown parameter "frm"/ });
  });
});
