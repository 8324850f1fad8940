/**
 * The daemon behind `daxmon run` / `daxmon record`, on a kernel described by fixtures rather than
 * on whatever kernel runs the tests: the 7.3 kallsyms and the pmem sysfs tree of
 * test/fixtures/kernel (new refcount model, no BTF, two fsdax namespaces and a device-dax
 * instance), and, where probes are needed, a scripted backend process in place of bpftrace.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonOptions, type RunningDaemon } from '../../src/daemon/daemon.js';
import type { DaxEvent } from '../../src/events/types.js';
import type { KernelFacts } from '../../src/kernel/facts.js';
import type { Backend, StreamDecoder } from '../../src/probes/backend.js';
import { libbpfBackend } from '../../src/probes/libbpf/plan.js';
import { replay } from '../../src/replay.js';
import { Journal } from '../../src/violations/journal.js';
import type { Violation } from '../../src/violations/violation.js';
import { PMEM_PFN, Stream } from '../helpers/events.js';
import { DAEMON_FIXTURE_RELEASE, daemonFixtureFacts } from './fixtures/daemon-facts.js';

const RELEASE = DAEMON_FIXTURE_RELEASE;
const SCRIPTED = path.join(__dirname, 'fixtures', 'scripted-backend.mjs');

let facts: KernelFacts;
let dir: string;

beforeAll(async () => {
  facts = await daemonFixtureFacts();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxmon-daemon-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

interface Started {
  daemon: RunningDaemon;
  url: string;
  log: LogLine[];
}

async function start(o: Partial<DaemonOptions>): Promise<Started> {
  const log: LogLine[] = [];
  const daemon = await startDaemon({
    listen: { host: '127.0.0.1', port: 0 },
    backend: 'auto',
    strict: false,
    journalDir: null,
    fsync: 'always',
    logLevel: 'info',
    checkConfig: {},
    facts,
    logDestination: { write: (s: string) => void log.push(JSON.parse(s) as LogLine) },
    ...o,
  });
  return { daemon, url: `http://127.0.0.1:${daemon.port}`, log };
}

const get = async (url: string) => (await fetch(url)).json() as Promise<Record<string, unknown>>;

/** Events as JSON lines on stdout, as the scripted backend writes them. */
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

/**
 * A "bpftrace" that plays `startEvents`, and `lastEvents` while it is being stopped; its plan
 * knows up front that folio_map_pte cannot attach.
 */
function scriptedBackend(name: string, startEvents: DaxEvent[], lastEvents: DaxEvent[]): Backend {
  const files = ['start', 'last'].map((n) => path.join(dir, `${name}-${n}.json`));
  fs.writeFileSync(files[0]!, JSON.stringify(startEvents));
  fs.writeFileSync(files[1]!, JSON.stringify(lastEvents));
  return {
    name: 'bpftrace',
    available: () => ({ ok: true }),
    plan: () => ({
      command: process.execPath,
      args: [SCRIPTED, ...files],
      probes: ['zone_device_free', 'folio_map_pte'],
      unavailable: [{ probe: 'folio_map_pte', reason: 'not in this script' }],
      stdout: jsonLines(),
      onStderrLine: () => undefined,
    }),
  };
}

/** The probe attaches, a folio is freed while still mapped (V3); the same again on stop. */
function freedWhileMapped(): { startEvents: DaxEvent[]; lastEvents: DaxEvent[] } {
  const s = new Stream('new').probes(['zone_device_free'], 'bpftrace').pgmap();
  s.insert(PMEM_PFN).map(PMEM_PFN, 1, 1).free(PMEM_PFN, 0, 1);
  const startEvents = s.events.splice(0);
  s.insert(PMEM_PFN + 1)
    .map(PMEM_PFN + 1, 1, 1)
    .free(PMEM_PFN + 1, 0, 1);
  return { startEvents, lastEvents: s.events };
}

async function until<T>(f: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A violation a previous run journaled (v7, repeated 3 times). */
function previousRun(journalDir: string): Violation {
  const v: Violation = {
    id: 'v7',
    kind: 'free_while_mapped',
    severity: 'error',
    invariant: 'V3',
    t: 5_000_000_000,
    time: '2026-11-24T08:00:00.000Z',
    message: 'fs_dax folio freed while still mapped (mapcount 1)',
    pfn: 0x140003,
    pgmap: { id: 'pm0', type: 'fs_dax', device: 'namespace0.0' },
    order: 0,
    observed: { refcount: 0, mapcount: 1 },
    expected: { mapcount: '0' },
    pid: 4242,
    comm: 'writer',
    stack: ['free_zone_device_free+0x0'],
    kernel: { release: RELEASE, model: 'new' },
    recentEvents: [],
    count: 1,
    lastT: 5_000_000_000,
    clearedT: null,
  };
  fs.mkdirSync(journalDir, { recursive: true });
  fs.writeFileSync(
    path.join(journalDir, 'violations-000001.ndjson'),
    JSON.stringify({ j: 1, op: 'new', v }) +
      '\n' +
      JSON.stringify({ j: 1, op: 'repeat', id: 'v7', count: 3, lastT: 6_000_000_000 }) +
      '\n',
  );
  return { ...v, count: 3, lastT: 6_000_000_000 };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the daemon on a kernel where no backend can run', () => {
  it('serves the kernel it was given, the pgmaps sysfs shows and the journal; not ready, and says why', async () => {
    const journalDir = path.join(dir, 'journal-none');
    const journaled = previousRun(journalDir);
    // libbpf needs BTF, which this kernel lacks; the bpftrace backend is left out of this build.
    const { daemon, url, log } = await start({ journalDir, backendCatalog: { libbpf: libbpfBackend } });
    try {
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(
        /^daxmon_kernel_info\{release="7\.3\.4\+deb13-amd64",refcount_model="new"\} 1$/m,
      );
      expect(metrics).toMatch(/^daxmon_pgmaps 3$/m);

      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { reason: string }).reason).toMatch(
        /^no probe backend can run here: libbpf: DAXMON_E_LIBBPF_NO_BTF: .*; bpftrace: not built into this daxmon$/,
      );

      const pgmaps = (await (await fetch(`${url}/api/pgmaps`)).json()) as { device: string }[];
      expect(pgmaps.map((p) => p.device).sort()).toEqual(['dax0.0', 'namespace0.0', 'namespace1.0']);
      const vs = (await get(`${url}/api/violations`)) as { items: Violation[]; total: number };
      expect(vs.total).toBe(1);
      expect(vs.items[0]).toEqual(journaled);

      expect(log.map((l) => l.msg)).toEqual(
        expect.arrayContaining([
          `kernel ${RELEASE}: new refcount model`,
          'journal opened',
          'discovered existing pgmaps',
          'serving metrics and API',
          'daxmon running',
        ]),
      );
      expect(
        log.find((l) => l.msg.startsWith('backend libbpf unavailable: DAXMON_E_LIBBPF_NO_BTF')),
      ).toBeDefined();
    } finally {
      await daemon.stop('test over');
    }
    expect(log.slice(-2).map((l) => l.msg)).toEqual(['shutting down', 'stopped']);
  });

  it('--strict refuses to start without a backend', async () => {
    await expect(start({ backend: 'libbpf', strict: true, listen: null })).rejects.toMatchObject({
      code: 'DAXMON_E_NO_BACKEND',
      message: expect.stringMatching(
        /^--strict: no probe backend can run here \(libbpf: DAXMON_E_LIBBPF_NO_BTF/,
      ),
    });
  });
});

describe('the daemon with a backend that reports probes and violations', () => {
  it('sends a violation to the journal, the API, the metrics and the log, and journals the last events on stop', async () => {
    const journalDir = path.join(dir, 'journal-live');
    previousRun(journalDir);
    const { startEvents, lastEvents } = freedWhileMapped();
    let backendPids: number[] = [];
    const { daemon, url, log } = await start({
      journalDir,
      backendCatalog: { libbpf: libbpfBackend, bpftrace: scriptedBackend('live', startEvents, lastEvents) },
    });
    try {
      backendPids = scriptedBackendPids();
      expect(backendPids).toHaveLength(1);
      const vs = await until(async () => {
        const r = (await get(`${url}/api/violations`)) as { items: Violation[]; total: number };
        return r.total === 2 ? r : undefined;
      }, 'the violation');
      expect(vs.items.map((v) => [v.id, v.kind, v.pfn])).toEqual([
        ['v8', 'free_while_mapped', PMEM_PFN],
        ['v7', 'free_while_mapped', 0x140003],
      ]);

      const metrics = await (await fetch(`${url}/metrics`)).text();
      // Counted once, as it was raised; the journaled v7 is history, not a new violation.
      expect(metrics).toMatch(/^daxmon_violations_total\{kind="free_while_mapped",severity="error"\} 1$/m);
      expect(metrics).toMatch(/^daxmon_probe_attached\{probe="zone_device_free",backend="bpftrace"\} 1$/m);
      expect(metrics).toMatch(/^daxmon_probe_attached\{probe="folio_map_pte",backend="bpftrace"\} 0$/m);
      expect(metrics).toMatch(/^daxmon_backend_up\{backend="bpftrace"\} 1$/m);

      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(200);
      expect(((await ready.json()) as { reason: string }).reason).toMatch(
        /^1 probe\(s\) attached: bpftrace:zone_device_free; \d+ check\(s\) active$/,
      );
      const state = (await get(`${url}/api/state`)) as { backends: Record<string, unknown>[] };
      expect(state.backends).toMatchObject([
        { backend: 'bpftrace', up: true, restarts: 0 },
        { backend: 'libbpf', up: false, unavailable: expect.stringMatching(/^DAXMON_E_LIBBPF_NO_BTF/) },
      ]);

      expect(log.find((l) => l.msg === 'free_while_mapped: ' + vs.items[0]!.message)).toMatchObject({
        level: 50,
        violation: 'v8',
        pfn: PMEM_PFN,
      });
      expect(log.find((l) => l.msg === 'probe folio_map_pte unavailable: not in this script')).toMatchObject({
        level: 40,
        backend: 'bpftrace',
      });
    } finally {
      await daemon.stop('test over');
    }
    // The backend was stopped before the journal closed: what it delivered while stopping is
    // journaled (v9), and logged before "stopped".
    const reopened = new Journal({ dir: journalDir });
    expect(reopened.open().violations.map((v) => v.id)).toEqual(['v7', 'v8', 'v9']);
    reopened.close();
    const shuttingDown = log.findIndex((l) => l.msg === 'shutting down');
    const lastViolation = log.findIndex((l) => l.violation === 'v9');
    expect(shuttingDown).toBeGreaterThan(0);
    expect(lastViolation).toBeGreaterThan(shuttingDown);
    expect(log.at(-1)?.msg).toBe('stopped');
    for (const pid of backendPids) expect(alive(pid), `backend ${pid} outlived the daemon`).toBe(false);
  });

  it('records what it checked: the recording replays to the live run’s violations', async () => {
    const out = path.join(dir, 'live.dxb');
    const { startEvents, lastEvents } = freedWhileMapped();
    const { daemon, url } = await start({
      recordPath: out,
      backendCatalog: { bpftrace: scriptedBackend('record', startEvents, lastEvents) },
    });
    await until(async () => ((await get(`${url}/api/violations`)).total === 1 ? true : undefined), 'v1');
    await daemon.stop('test over');

    expect(fs.readFileSync(out).subarray(0, 8).toString('latin1')).toBe('DAXMONB1');
    const r = await replay(out);
    expect(r.errors).toEqual([]);
    expect(r.release).toBe(RELEASE);
    expect(r.violations.map((v) => [v.id, v.kind, v.pfn])).toEqual([
      ['v1', 'free_while_mapped', PMEM_PFN],
      ['v2', 'free_while_mapped', PMEM_PFN + 1],
    ]);
    // Everything the live pipeline took is in it: the discovered pgmaps, the backend's start and
    // stop, the probe reports, the folio events.
    const types = new Set(
      [...r.pipeline.state.eventsByType.entries()].filter(([, n]) => n > 0).map(([t]) => t),
    );
    expect(types.size).toBeGreaterThanOrEqual(6);
    expect(r.pipeline.state.pgmaps.all.map((p) => p.device)).toEqual(
      expect.arrayContaining(['namespace0.0', 'namespace1.0', 'dax0.0']),
    );
  });
});

/** Pids of the scripted backend processes this test process started. */
function scriptedBackendPids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
        const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return parent === process.pid && fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(SCRIPTED);
      } catch {
        return false;
      }
    })
    .map(Number);
}
