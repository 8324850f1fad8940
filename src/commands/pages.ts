/** `daxmon pages`: a running daemon's /api/pgmaps/:id/pages, as a table or JSON. */
import type { PageTruth } from '../scan/snapshot.js';

export interface PagesBody {
  pgmap: string;
  type: string;
  model: string;
  scannedAt: string;
  from: number;
  pages: PageTruth[];
}

export async function fetchPages(
  base: string,
  pgmap: string,
  q: Record<string, unknown>,
): Promise<{ ok: true; body: PagesBody } | { ok: false; message: string }> {
  const url = new URL(`/api/pgmaps/${encodeURIComponent(pgmap)}/pages`, base);
  for (const [k, v] of Object.entries(q)) url.searchParams.set(k, String(v));
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    return {
      ok: false,
      message: `cannot reach daxmon at ${base}: ${(err as Error).message} (is "daxmon run" serving there? --url)`,
    };
  }
  const body = (await res.json().catch(() => null)) as
    (PagesBody & { message?: string; code?: string }) | null;
  if (!res.ok || !body)
    return {
      ok: false,
      message: `${res.status} ${body?.code ?? ''} ${body?.message ?? res.statusText}`.trim(),
    };
  return { ok: true, body };
}

const dash = (v: unknown): string => (v === null || v === undefined ? '-' : String(v));

export function formatPages(b: PagesBody): string {
  const lines = [
    `pgmap ${b.pgmap} (${b.type}, ${b.model} model), scanned ${b.scannedAt}`,
    'pfn         state       refcount  mapcount  pincount  order  entry  head',
  ];
  for (const p of b.pages) {
    lines.push(
      [
        `0x${p.pfn.toString(16)}`.padEnd(11),
        dash(p.state).padEnd(11),
        dash(p.refcount).padStart(8),
        dash(p.mapcount).padStart(9),
        dash(p.pincount).padStart(9),
        dash(p.order).padStart(6),
        (p.entry === null ? '-' : p.entry ? 'yes' : 'no').padStart(6),
        p.headPfn === null ? '' : ` 0x${p.headPfn.toString(16)}`,
      ]
        .join(' ')
        .trimEnd(),
    );
  }
  return lines.join('\n') + '\n';
}
