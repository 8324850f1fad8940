/**
 * `npm run render:overview -- (--prometheus URL [--minutes N] | --snapshot FILE) --out FILE.svg [--png]`
 *
 * Draws the overview dashboard from a live Prometheus (the lab's, say) or from a snapshot the VM
 * end-to-end test saved (its report's `overview`). --png also writes FILE.png with rsvg-convert
 * (Debian's librsvg2-bin) when that is installed.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { promApi } from './prom-api.js';
import { renderDashboardSvg } from './render-svg.js';
import { snapshotDashboard } from './snapshot.js';
import type { DashboardSnapshot } from './snapshot.js';

const { values: v } = parseArgs({
  options: {
    prometheus: { type: 'string' },
    minutes: { type: 'string', default: '10' },
    snapshot: { type: 'string' },
    out: { type: 'string' },
    source: { type: 'string' },
    png: { type: 'boolean' },
  },
});
if (!v.out || (!v.prometheus && !v.snapshot)) {
  process.stderr.write(
    'usage: render-cli (--prometheus URL [--minutes N] | --snapshot FILE) --out FILE.svg [--png]\n',
  );
  process.exit(2);
}

const when = (t: number): string => new Date(t * 1000).toISOString().slice(0, 19).replace('T', ' ');

let snap: DashboardSnapshot;
if (v.snapshot) {
  const raw = JSON.parse(readFileSync(v.snapshot, 'utf8')) as
    DashboardSnapshot | { overview: DashboardSnapshot };
  snap = 'overview' in raw ? raw.overview : raw;
} else {
  const minutes = Number(v.minutes);
  const end = Math.floor(Date.now() / 1000);
  const start = end - minutes * 60;
  snap = await snapshotDashboard(
    promApi(v.prometheus ?? ''),
    'daxmon-overview',
    { start, end, stepSeconds: Math.max(2, Math.round((minutes * 60) / 300)) },
    { rateInterval: '1m', range: `${minutes}m` },
  );
}
const source =
  v.source ??
  `Data: Prometheus ${snap.prometheus}, ${when(snap.window.start)} to ${when(snap.window.end)} UTC`;
writeFileSync(v.out, renderDashboardSvg(snap, { source }));
process.stdout.write(`wrote ${v.out}\n`);
if (v.png) {
  const png = v.out.replace(/\.svg$/, '') + '.png';
  try {
    execFileSync('rsvg-convert', ['-o', png, v.out]);
    process.stdout.write(`wrote ${png}\n`);
  } catch (err) {
    process.stderr.write(
      `no PNG: rsvg-convert failed or is not installed (apt-get install librsvg2-bin): ${String(err)}\n`,
    );
    process.exitCode = 1;
  }
}
