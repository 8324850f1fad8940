import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PMEM_PFN } from '../helpers/events.js';
import { scanWorld } from '../helpers/scan-world.js';
import { compileCli, type CompiledCli } from './compiled-cli.js';

let compiled: CompiledCli;
beforeAll(async () => {
  compiled = await compileCli();
}, 120_000);
afterAll(() => compiled?.cleanup());

function daxmon(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [compiled.cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('daxmon pages', () => {
  it('prints a running daemon’s per-page truth, as a table or JSON, and its errors', async () => {
    const w = scanWorld(4096);
    await w.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = w.app.server.address();
    const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    try {
      const before = await daxmon(['pages', 'pm0', '--url', url]);
      expect(before.code).toBe(1);
      expect(before.stderr).toMatch(/503 DAXMON_E_API_NO_SCAN pgmap pm0 has not been scanned yet/);

      w.image.set(PMEM_PFN + 1, { refcount: 2, mapcount: 1, mapping: true });
      await w.scan.scanNow();
      const table = await daxmon(['pages', 'pm0', '--from', String(PMEM_PFN), '--count', '2', '--url', url]);
      expect(table.code, table.stderr).toBe(0);
      const rows = table.stdout.split('\n').filter((l) => l.startsWith('0x'));
      expect(rows).toHaveLength(2);
      expect(rows[0]).toMatch(/^0x140000\s+idle\s+0\s+0\s+0\s+0\s+no/);
      expect(rows[1]).toMatch(/^0x140001\s+mapped\s+2\s+1\s+0\s+0\s+yes/);

      const json = await daxmon([
        'pages',
        'pm0',
        '--from',
        `0x${(PMEM_PFN + 1).toString(16)}`,
        '--count',
        '1',
        '--url',
        url,
        '--json',
      ]);
      expect(JSON.parse(json.stdout).pages).toEqual([
        {
          pfn: PMEM_PFN + 1,
          state: 'mapped',
          refcount: 2,
          mapcount: 1,
          pincount: 0,
          order: 0,
          headPfn: null,
          entry: true,
        },
      ]);

      const outside = await daxmon(['pages', 'pm0', '--from', '1', '--url', url]);
      expect(outside.code).toBe(1);
      expect(outside.stderr).toMatch(/pfn 1 is not in pgmap pm0/);
      const usage = await daxmon(['pages', 'pm0', '--count', '0']);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toMatch(/DAXMON_E_USAGE: --count must be an integer from 1 to 4096/);
    } finally {
      await w.app.close();
    }
  }, 60_000);
});
