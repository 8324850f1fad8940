/**
 * The daemon over a journal after the review of issue 13: a record nested 8,000 deep no longer
 * makes /api/violations answer 500, and the backlog's drops are a metric.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../../src/daemon/daemon.js';
import type { KernelFacts } from '../../src/kernel/facts.js';
import { encodeRecord, lineFor } from '../../src/violations/journal-format.js';
import { violation } from '../violations/violation-fixture.js';
import { daemonFixtureFacts } from './fixtures/daemon-facts.js';

let facts: KernelFacts;
let dir: string;
beforeAll(async () => {
  facts = await daemonFixtureFacts();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxmon-journal-review-daemon-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function start(journalDir: string): Promise<{ daemon: RunningDaemon; url: string }> {
  const daemon = await startDaemon({
    listen: { host: '127.0.0.1', port: 0 },
    backend: 'none',
    strict: false,
    journalDir,
    fsync: 'always',
    logLevel: 'silent',
    checkConfig: {},
    facts,
    discover: false,
    scan: { intervalSeconds: 0, pagesPerSecond: 1 },
  });
  return { daemon, url: `http://127.0.0.1:${daemon.port}` };
}

describe('the daemon over a journal with a record nested 8,000 deep', () => {
  it('/api/violations answers 200 with the good records, the deep one counted damaged', async () => {
    const d = path.join(dir, 'deep');
    fs.mkdirSync(d);
    const deep = lineFor(
      2,
      JSON.stringify({ op: 'new', v: violation(2, { details: { x: 1 } }) }).replace(
        '{"x":1}',
        '{"d":'.repeat(8000) + '{}' + '}'.repeat(8000),
      ),
    );
    fs.writeFileSync(
      path.join(d, 'violations-000001.ndjson'),
      encodeRecord(1, { op: 'new', v: violation(1) }) +
        deep +
        encodeRecord(3, { op: 'new', v: violation(3) }),
    );
    const { daemon, url } = await start(d);
    try {
      const r = await fetch(`${url}/api/violations`);
      expect(r.status).toBe(200);
      const page = (await r.json()) as { items: { id: string }[]; damagedRecords: number };
      expect(page.items.map((v) => v.id)).toEqual(['v3', 'v1']);
      expect(page.damagedRecords).toBe(1);
      const m = await (await fetch(`${url}/metrics`)).text();
      expect(m).toMatch(/^daxmon_journal_dropped_records_total 0$/m);
    } finally {
      await daemon.stop('test over');
    }
  });
});
