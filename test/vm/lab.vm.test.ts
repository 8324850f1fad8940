import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { livePrometheusCount, liveQemuCount, runLab } from '../../lab/src/index.js';
import { REPO_DIR } from './matrix.js';

// `daxmon lab` end to end: the 7.x guest runs daxmon from this checkout's dist/ (npm run build first)
// with `--backend auto`, which must pick libbpf there; /readyz and /metrics must answer on the
// forwarded host port. DAXMON_VM_LAB=0 skips it.
const enabled = process.env.DAXMON_VM_LAB !== '0' && existsSync(join(REPO_DIR, 'dist', 'cli.js'));

/** The probes every check needs on 7.x; `daxmon_probe_attached{backend="libbpf"}` must be 1 for each. */
export const LAB_CORE_PROBES = [
  'pgmap_register',
  'pgmap_teardown',
  'dax_fault_pte',
  'dax_fault_pmd',
  'dax_entry_insert',
  'dax_entry_remove',
  'folio_map_pte',
  'folio_map_pmd',
  'folio_unmap',
  'gup_grab',
  'gup_put',
  'zone_device_free',
  'busy_page',
  'layout_break',
];

/** `daxmon_probe_attached{backend="libbpf",probe="x"} 1` lines → probe → value. */
export function probeGauges(metrics: string, backend: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of metrics.split('\n')) {
    if (!line.startsWith('daxmon_probe_attached{')) continue;
    const b = /backend="([^"]+)"/.exec(line)?.[1];
    const p = /probe="([^"]+)"/.exec(line)?.[1];
    const v = Number(line.trim().split(/\s+/).at(-1));
    if (b === backend && p) out.set(p, v);
  }
  return out;
}

async function get(url: string): Promise<{ status: number; body: string } | undefined> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
    return { status: r.status, body: await r.text() };
  } catch {
    return undefined;
  }
}

describe.skipIf(!enabled)('daxmon lab', () => {
  it('runs daxmon with the libbpf backend, ready and serving /metrics on the host, scraped by its Prometheus, and all stop cleanly', async () => {
    const lines: string[] = [];
    const stop = new AbortController();
    let upAt = 0;
    let readyAfterMs: number | undefined;
    let readyz = '';
    let metrics = '';
    const watcher = (base: string) => {
      upAt = Date.now();
      const poll = setInterval(() => {
        void (async () => {
          const r = await get(`${base}readyz`);
          if (r?.status !== 200 || readyAfterMs !== undefined) return;
          readyAfterMs = Date.now() - upAt;
          readyz = r.body;
          metrics = (await get(`${base}metrics`))?.body ?? '';
          clearInterval(poll);
          // seen what the test needs: stop the lab instead of waiting out the duration
          setTimeout(() => stop.abort(), 3000);
        })();
      }, 1000);
      stop.signal.addEventListener('abort', () => clearInterval(poll), { once: true });
    };
    const r = await runLab({
      repoDir: REPO_DIR,
      durationMs: Number.parseInt(process.env.DAXMON_VM_LAB_MS ?? '240000', 10),
      print: (l) => lines.push(l),
      prometheus: true,
      handleSignals: false,
      signal: stop.signal,
      onStarted: (st) => watcher(st.urls.base),
    });
    stop.abort();
    const why = `daxmon output:\n${lines.join('\n')}\nconsole: ${r.guest.consoleLog}`;
    expect(r.urls.metrics).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(readyAfterMs, `/readyz never answered 200; ${why}`).toBeDefined();
    process.stderr.write(`daxmon lab: /readyz 200 ${readyAfterMs} ms after the guest was up: ${readyz}\n`);
    const gauges = probeGauges(metrics, 'libbpf');
    const core = Object.fromEntries(LAB_CORE_PROBES.map((p) => [p, gauges.get(p)]));
    expect(core, why).toEqual(Object.fromEntries(LAB_CORE_PROBES.map((p) => [p, 1])));
    expect(r.metricsServed, why).toBe(true);
    // The lab's own Prometheus (prometheus is in scripts/apt-packages.txt) scraped daxmon.
    expect(r.prometheus?.scrapedDaxmon, lines.join('\n')).toBe(true);
    expect(r.guest.status).toBe('done');
    expect(liveQemuCount()).toBe(0);
    expect(livePrometheusCount()).toBe(0);
  });
});
