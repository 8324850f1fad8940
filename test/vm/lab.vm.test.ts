import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { livePrometheusCount, liveQemuCount, runLab } from '../../src/vmlab/index.js';
import { REPO_DIR } from './matrix.js';

// `daxmon lab` end to end: the 7.x guest runs daxmon from this checkout's dist/ (npm run build first)
// and its /metrics must answer on the forwarded host port. DAXMON_VM_LAB=0 skips it.
const enabled = process.env.DAXMON_VM_LAB !== '0' && existsSync(join(REPO_DIR, 'dist', 'cli.js'));

describe.skipIf(!enabled)('daxmon lab', () => {
  it('serves daxmon /metrics on the host, its Prometheus scrapes it, and both stop cleanly', async () => {
    const lines: string[] = [];
    const r = await runLab({
      repoDir: REPO_DIR,
      durationMs: Number.parseInt(process.env.DAXMON_VM_LAB_MS ?? '150000', 10),
      print: (l) => lines.push(l),
      prometheus: true,
      handleSignals: false,
    });
    expect(r.urls.metrics).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(r.metricsServed, `daxmon output:\n${lines.join('\n')}\nconsole: ${r.guest.consoleLog}`).toBe(true);
    // The lab's own Prometheus (prometheus is in scripts/apt-packages.txt) scraped daxmon.
    expect(r.prometheus?.scrapedDaxmon, lines.join('\n')).toBe(true);
    expect(r.guest.status).toBe('done');
    expect(liveQemuCount()).toBe(0);
    expect(livePrometheusCount()).toBe(0);
  });
});
