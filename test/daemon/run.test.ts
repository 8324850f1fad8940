/**
 * `daxmon run` on this host, as a real process: it starts with whatever the kernel allows, serves
 * /metrics and the API, says why it is not ready, restores the journal, and stops cleanly.
 *
 * Written for the development host (no kprobes or fentry allowed, no pmem, bpftrace 0.17): the
 * bpftrace backend starts, most probes are refused, and no check can run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileCli, REPO, type CompiledCli } from '../cli/compiled-cli.js';
import type { Violation } from '../../src/violations/violation.js';
import { replay } from '../../src/replay.js';

let compiled: CompiledCli;
let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  compiled = await compileCli();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxmon-run-'));
});
afterAll(async () => {
  await Promise.all(children.map(stopped));
  fs.rmSync(dir, { recursive: true, force: true });
  compiled?.cleanup();
});

/**
 * Make sure a daemon and the backends it started are gone, even when a test failed halfway:
 * SIGTERM first (a SIGKILLed daemon would orphan its bpftrace), SIGKILL for whatever is left.
 */
async function stopped(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const backends = childrenOf(child.pid);
  const exit = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exit;
  clearTimeout(timer);
  for (const pid of backends) if (alive(pid)) process.kill(pid, 'SIGKILL');
}

interface Daemon {
  child: ChildProcess;
  /** Parsed pino lines from stderr so far. */
  log: { msg?: string; url?: string; level?: number }[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function daxmon(args: string[]): Daemon {
  const child = spawn(process.execPath, [compiled.cli, ...args], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const d: Daemon = {
    child,
    log: [],
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
  };
  let carry = '';
  child.stderr!.on('data', (c: Buffer) => {
    const lines = (carry + c.toString()).split('\n');
    carry = lines.pop() ?? '';
    for (const l of lines) {
      try {
        d.log.push(JSON.parse(l) as Daemon['log'][number]);
      } catch {
        d.log.push({ msg: l });
      }
    }
  });
  child.stdout!.resume();
  return d;
}

async function until<T>(f: () => T | undefined, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Pids of the processes whose parent is `pid` (the backends it started). */
function childrenOf(pid: number): number[] {
  return fs
    .readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
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
    stack: ['free_zone_device_folio+0x0'],
    kernel: { release: '7.3.4+deb13-amd64', model: 'new' },
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

describe('daxmon run on this host', () => {
  it('serves metrics and the API, is not ready and says why, restores the journal, and exits 0 on SIGTERM', async () => {
    const journalDir = path.join(dir, 'journal');
    const journaled = previousRun(journalDir);
    const d = daxmon(['run', '--listen', '127.0.0.1:0', '--backend', 'auto', '--journal-dir', journalDir]);
    try {
      const url = await until(
        () => d.log.find((l) => l.msg === 'serving metrics and API')?.url?.replace(/\/metrics$/, ''),
        'the daemon to listen',
      );
      // Let the backend settle: bpftrace reports its probes once its BEGIN ran (here: the fs_dax
      // fault tracepoints, the only hooks this kernel allows), or it exits.
      const deadline = Date.now() + 15_000;
      let anyAttached = false;
      for (;;) {
        const s = (await (await fetch(`${url}/api/state`)).json()) as {
          probes: { attached: boolean }[];
          backends: { lastExit: unknown }[];
        };
        anyAttached = s.probes.some((p) => p.attached);
        if (anyAttached || s.backends.some((b) => b.lastExit !== null)) break;
        if (Date.now() > deadline) throw new Error('the backend never reported its probes');
        await new Promise((r) => setTimeout(r, 50));
      }

      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(
        new RegExp(
          `^daxmon_kernel_info\\{release="${os.release().replace(/[.+]/g, '\\$&')}",refcount_model="new"\\} 1$`,
          'm',
        ),
      );
      const unattached = [
        ...metrics.matchAll(/^daxmon_probe_attached\{probe="(\w+)",backend="(\w+)"\} 0$/gm),
      ];
      expect(unattached.length).toBeGreaterThan(0);
      expect(unattached.map((m) => m[1])).toContain('zone_device_free');
      for (const m of unattached) expect(['libbpf', 'bpftrace']).toContain(m[2]);

      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(503);
      const body = (await ready.json()) as { ready: boolean; reason: string };
      expect(body.ready).toBe(false);
      // No check can run here, whatever did attach (here bpftrace gets the fs_dax fault
      // tracepoints); the reason names what is missing.
      if (anyAttached) expect(body.reason).toMatch(/^no check can run with the probes attached \(/);
      expect(body.reason).toMatch(/unavailable: .*zone_device_free \(/);

      const vs = (await (await fetch(`${url}/api/violations`)).json()) as {
        items: Violation[];
        total: number;
      };
      expect(vs.total).toBe(1);
      expect(vs.items[0]).toEqual(journaled);
      expect((await fetch(`${url}/api/violations/v7`)).status).toBe(200);

      const backends = childrenOf(d.child.pid!);
      d.child.kill('SIGTERM');
      const exit = await d.exited;
      expect(exit).toEqual({ code: 0, signal: null });
      expect(d.log.some((l) => l.msg === 'stopped')).toBe(true);
      for (const pid of backends)
        expect(alive(pid), `backend process ${pid} outlived the daemon`).toBe(false);
    } finally {
      await stopped(d.child);
    }
  });

  it('--duration stops it by itself with exit code 0', async () => {
    const d = daxmon([
      'run',
      '--listen',
      '127.0.0.1:0',
      '--backend',
      'none',
      '--no-journal',
      '--duration',
      '1',
    ]);
    const exit = await d.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(d.log.find((l) => l.msg === 'shutting down')).toMatchObject({ why: '--duration 1s elapsed' });
  });

  it('record --out FILE.dxb writes a binary recording that replays to what the live run saw', async () => {
    const out = path.join(dir, 'live.dxb');
    const d = daxmon(['record', '--out', out, '--backend', 'auto', '--no-journal', '--duration', '4']);
    const { code } = await d.exited;
    expect(code).toBe(0);
    const head = fs.readFileSync(out).subarray(0, 8).toString('latin1');
    expect(head).toBe('DAXMONB1');
    const r = await replay(out);
    expect(r.errors).toEqual([]);
    expect(r.release).toBe(os.release());
    // The backend's start and its probe reports are events too: the recording is not just a header.
    const types = [...r.pipeline.state.eventsByType.entries()].filter(([, n]) => n > 0);
    expect(types.length).toBeGreaterThan(0);
    expect(r.events).toBeGreaterThan(0);
    expect(r.pipeline.state.probes.size).toBeGreaterThan(0);
  });
});
