import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderAll } from '../../dashboards/src/generate.js';
import { ROOT } from './paths.js';

describe('generated dashboards and alert files', () => {
  it('the committed files are exactly what `npm run build:dashboards` produces', async () => {
    const files = await renderAll(ROOT);
    expect([...files.keys()].sort()).toEqual([
      'dashboards/alerts.test.yml',
      'dashboards/alerts.yml',
      'dashboards/grafana/daxmon-health.json',
      'dashboards/grafana/daxmon-overview.json',
      'dashboards/grafana/daxmon-pgmap.json',
    ]);
    for (const [rel, content] of files) {
      const committed = await readFile(path.join(ROOT, rel), 'utf8').catch(() => '');
      expect(committed, `${rel} is stale: run npm run build:dashboards and commit the result`).toBe(content);
    }
  });
});
