/**
 * Replay equals live (issue 11 item 4): a stuck layout-break wait raised live by the daemon's
 * timer, with no further event, recorded with --record and replayed, gives the same violations.
 * The daemon runs on the 7.3 fixture kernel with a scripted backend; its tick clock and its /proc
 * confirmer are injected, so the test moves time instead of sleeping.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WaitCandidate } from '../../src/checks/types.js';
import { startDaemon, type RunningDaemon } from '../../src/daemon/daemon.js';
import { confirmationEvent } from '../../src/daemon/wait-confirmer.js';
import type { DaxEvent } from '../../src/events/types.js';
import type { KernelFacts } from '../../src/kernel/facts.js';
import type { Backend, StreamDecoder } from '../../src/probes/backend.js';
import { replay } from '../../src/replay.js';
import type { Violation } from '../../src/violations/violation.js';
import { DEV, INO, PMEM_PFN, Stream } from '../helpers/events.js';
import { daemonFixtureFacts } from './fixtures/daemon-facts.js';

const SCRIPTED = path.join(__dirname, 'fixtures', 'scripted-backend.mjs');
const TID = 5151;

let facts: KernelFacts;
let dir: string;

beforeAll(async () => {
  facts = await daemonFixtureFacts();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxmon-replay-live-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function jsonLines(): StreamDecoder {
  let carry = '';
  return {
    push(chunk, emit) {
      const lines = (carry + chunk.toString('utf8')).split('\n');
      carry = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) emit(JSON.parse(l) as DaxEvent);
    },
    end() {},
  };
}

/** A backend whose probes attach, then a truncate that starts waiting on a pinned page, and nothing more. */
function stuckTruncate(name: string): Backend {
  const s = new Stream('new', 'truncate', 5150).probes(['layout_break', 'busy_page'], 'bpftrace');
  s.insert(PMEM_PFN).map(PMEM_PFN, 1, 1).gup('get', PMEM_PFN, 2);
  s.push('layout_break_begin', {
    tid: TID,
    dev: DEV,
    ino: INO,
    fn: 'dax_break_layout',
    uninterruptible: false,
  });
  s.push('busy_page_found', { dev: DEV, ino: INO, pfn: PMEM_PFN, order: 0, refcount: 2, mapcount: 1 });
  const files = ['start', 'last'].map((n) => path.join(dir, `${name}-${n}.json`));
  fs.writeFileSync(files[0]!, JSON.stringify(s.events));
  fs.writeFileSync(files[1]!, '[]');
  return {
    name: 'bpftrace',
    available: () => ({ ok: true }),
    plan: () => ({
      command: process.execPath,
      args: [SCRIPTED, ...files],
      probes: ['layout_break', 'busy_page'],
      unavailable: [],
      stdout: jsonLines(),
      onStderrLine: () => undefined,
    }),
  };
}

async function until<T>(f: () => Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const get = async (url: string) => (await fetch(url)).json() as Promise<Record<string, unknown>>;
const monotonic = () => Number(process.hrtime.bigint());

interface Live {
  violations: Violation[];
  asked: WaitCandidate[];
  recording: string;
  metrics: string;
}

/** Run the daemon until the wait has been judged at 11 s and at 61 s; the confirmer answers `alive`. */
async function live(name: string, alive: boolean): Promise<Live> {
  const recording = path.join(dir, `${name}.ndjson`);
  let now = 0;
  const asked: WaitCandidate[] = [];
  let daemon: RunningDaemon | undefined;
  try {
    daemon = await startDaemon({
      listen: { host: '127.0.0.1', port: 0 },
      backend: 'bpftrace',
      strict: false,
      journalDir: null,
      fsync: 'always',
      logLevel: 'warn',
      checkConfig: { busyWaitWarnSeconds: 10, busyWaitStuckSeconds: 60 },
      facts,
      logDestination: { write: () => undefined },
      backendCatalog: { bpftrace: stuckTruncate(name) },
      recordPath: recording,
      clock: () => now,
      tickIntervalMs: 5,
      confirmer: (c) => {
        asked.push(c);
        return confirmationEvent(
          c,
          alive
            ? { outcome: 'confirmed', taskAlive: true, detail: 'state S, wchan xfs_wait_dax_page' }
            : { outcome: 'resynced', taskAlive: false, detail: `task ${c.tid} of pid ${c.pid} is gone` },
        );
      },
    });
    const url = `http://127.0.0.1:${daemon.port}`;
    await until(async () => {
      const s = (await get(`${url}/api/state`)) as { waits: { busyPages: number }[] };
      return s.waits.length === 1 && s.waits[0]!.busyPages === 1 ? true : undefined;
    }, 'the open wait');
    // No event after this: only the daemon's clock moves on.
    const seen = monotonic();
    now = seen + 11e9;
    await until(async () => (asked.length >= 1 ? true : undefined), 'the 10 s candidate');
    now = seen + 61e9;
    if (alive) await until(async () => (asked.length >= 2 ? true : undefined), 'the 60 s candidate');
    else {
      // The resynced wait is gone: nothing is pending, so no tick is recorded at all.
      await until(async () => {
        const s = (await get(`${url}/api/state`)) as { waits: unknown[] };
        return s.waits.length === 0 ? true : undefined;
      }, 'the wait closed by the resync');
    }
    const vs = (await get(`${url}/api/violations`)) as { items: Violation[] };
    const metrics = await (await fetch(`${url}/metrics`)).text();
    return { violations: vs.items.slice().reverse(), asked, recording, metrics };
  } finally {
    await daemon?.stop('test over');
  }
}

const shape = (vs: Violation[]) => vs.map((v) => [v.id, v.kind, v.severity, v.pfn, v.t, v.message]);

describe('replay equals live', () => {
  it('a stuck wait raised live by the timer alone is raised identically by the replay of its recording', async () => {
    const l = await live('stuck', true);
    expect(l.asked.map((c) => [c.kind, c.severity, c.tid])).toEqual([
      ['busy_wait_stuck', 'warning', TID],
      ['busy_wait_stuck', 'error', TID],
    ]);
    expect(l.violations.map((v) => [v.kind, v.severity, v.pfn])).toEqual([
      ['busy_wait_stuck', 'warning', PMEM_PFN],
      ['busy_wait_stuck', 'error', PMEM_PFN],
    ]);
    expect(l.violations[0]!.details).toMatchObject({
      confirmed: true,
      confirmation: 'state S, wchan xfs_wait_dax_page',
    });
    expect(l.metrics).toMatch(
      /^daxmon_confirmations_total\{check="busy_wait_stuck",outcome="confirmed"\} 2$/m,
    );

    const r = await replay(l.recording);
    expect(r.errors).toEqual([]);
    expect(shape(r.violations)).toEqual(shape(l.violations));
    // The recording is small: a tick only when a deadline was pending, one per clock step here.
    const ticks = r.pipeline.state.eventCount('clock_tick');
    expect(ticks).toBeGreaterThanOrEqual(2);
    expect(ticks).toBeLessThanOrEqual(3);
    expect(r.pipeline.state.eventCount('wait_confirmation')).toBe(2);
  });

  it('a wait whose task has gone is resynced, not raised, live and in replay', async () => {
    const l = await live('gone', false);
    expect(l.asked).toHaveLength(1);
    expect(l.violations).toEqual([]);
    expect(l.metrics).toMatch(
      /^daxmon_confirmations_total\{check="busy_wait_stuck",outcome="resynced"\} 1$/m,
    );
    const r = await replay(l.recording);
    expect(r.errors).toEqual([]);
    expect(r.violations).toEqual([]);
    expect(r.pipeline.state.waits.size).toBe(0);
  });
});
