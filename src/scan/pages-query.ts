/**
 * Validation of /api/pgmaps/:id/pages?from=&count= (pure, so the CLI and tests share it).
 * `from` is a pfn (decimal or 0x-hex) inside the pgmap, default its first pfn; `count` is
 * 1..MAX_PAGES_PER_REQUEST, default 64: a request costs at most that many rows of work.
 */
export const MAX_PAGES_PER_REQUEST = 4096;
export const DEFAULT_PAGES_PER_REQUEST = 64;

export type PagesQuery = { ok: true; fromPfn: number | null; count: number } | { ok: false; message: string };

function parseUint(s: string): number | null {
  if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : null;
}

export function parsePagesQuery(q: Record<string, unknown>): PagesQuery {
  for (const k of Object.keys(q))
    if (k !== 'from' && k !== 'count')
      return { ok: false, message: `unknown parameter "${k}" (use from, count)` };
  let fromPfn: number | null = null;
  if (q.from !== undefined) {
    fromPfn = typeof q.from === 'string' ? parseUint(q.from) : null;
    if (fromPfn === null)
      return { ok: false, message: `from must be a pfn (decimal or 0x hex), got "${String(q.from)}"` };
  }
  let count = DEFAULT_PAGES_PER_REQUEST;
  if (q.count !== undefined) {
    const c = typeof q.count === 'string' ? parseUint(q.count) : null;
    if (c === null || c < 1 || c > MAX_PAGES_PER_REQUEST)
      return {
        ok: false,
        message: `count must be an integer from 1 to ${MAX_PAGES_PER_REQUEST}, got "${String(q.count)}"`,
      };
    count = c;
  }
  return { ok: true, fromPfn, count };
}
