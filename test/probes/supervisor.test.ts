import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { DaxEvent } from '../../src/events/types.js';
import type { BackendLaunch, BackendLog, StreamDecoder } from '../../src/probes/backend.js';
import { BackendSupervisor, type SupervisorOptions } from '../../src/probes/supervisor.js';

const FAKE = path.join(__dirname, 'fixtures', 'fake-backend.mjs');

/** Poll `cond` until it holds or the deadline passes (then fail with `what`). */
async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** JSON lines on stdout → events; a trailing partial line is left for end(). */
function lineDecoder(): StreamDecoder & { ended: boolean } {
  let carry = '';
  const d = {
    ended: false,
    push(chunk: Buffer, emit: (e: DaxEvent) => void) {
      const lines = (carry + chunk.toString('utf8')).split('\n');
      carry = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) emit(JSON.parse(l) as DaxEvent);
    },
    end() {
      d.ended = true;
    },
  };
  return d;
}

interface Harness {
  sup: BackendSupervisor;
  events: DaxEvent[];
  stderr: string[];
  logs: { level: string; msg: string }[];
  plans: number;
  decoders: ReturnType<typeof lineDecoder>[];
}

const running: BackendSupervisor[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

function supervise(
  launch: Partial<BackendLaunch> & { args?: string[] },
  opts: Partial<SupervisorOptions> = {},
): Harness {
  const h: Harness = { events: [], stderr: [], logs: [], plans: 0, decoders: [] } as unknown as Harness;
  const log: BackendLog = {
    debug: (msg) => h.logs.push({ level: 'debug', msg }),
    info: (msg) => h.logs.push({ level: 'info', msg }),
    warn: (msg) => h.logs.push({ level: 'warn', msg }),
    error: (msg) => h.logs.push({ level: 'error', msg }),
  };
  h.sup = new BackendSupervisor({
    backend: 'synthetic',
    emit: (e) => h.events.push(e),
    log,
    initialBackoffMs: 5,
    maxBackoffMs: 40,
    killGraceMs: 300,
    plan: () => {
      h.plans++;
      const decoder = lineDecoder();
      h.decoders.push(decoder);
      return {
        command: process.execPath,
        args: [],
        probes: ['folio_idle'],
        unavailable: [],
        stdout: decoder,
        onStderrLine: (line) => h.stderr.push(line),
        ...launch,
      };
    },
    ...opts,
  });
  running.push(h.sup);
  return h;
}

const of = <T extends DaxEvent['type']>(h: Harness, type: T) =>
  h.events.filter((e): e is Extract<DaxEvent, { type: T }> => e.type === type);

describe('the backend supervisor', () => {
  it('events the backend decodes from stdout reach emit, after backend_started', async () => {
    const h = supervise({ args: [FAKE, 'events', '3', 'stay'] });
    h.sup.start();
    await until(() => of(h, 'folio_idle').length === 3, 'three events');
    expect(h.events[0]).toMatchObject({ type: 'backend_started', backend: 'synthetic', comm: 'daxmon' });
    expect(of(h, 'folio_idle').map((e) => e.pfn)).toEqual([0x140000, 0x140001, 0x140002]);
    expect(h.sup.up).toBe(true);
    expect(h.sup.probes).toEqual(['folio_idle']);
    await h.sup.stop();
    expect(h.sup.up).toBe(false);
    expect(h.events.at(-1)).toMatchObject({ type: 'backend_stopped', reason: 'stopped by daxmon' });
    expect(h.decoders[0]!.ended).toBe(true);
    expect(h.sup.restarts).toBe(0);
  });

  it('a backend that exits non-zero is restarted with doubling backoff: stopped (with exit code), then started', async () => {
    const h = supervise({ args: [FAKE, 'exit', '3'] }, { initialBackoffMs: 5, maxBackoffMs: 10 });
    h.sup.start();
    await until(() => h.sup.restarts >= 3 && of(h, 'backend_stopped').length >= 4, 'three restarts');
    await h.sup.stop();

    const lifecycle = h.events.map((e) => e.type);
    // Strictly alternating, starting with a start.
    lifecycle.forEach((t, i) => expect(t).toBe(i % 2 === 0 ? 'backend_started' : 'backend_stopped'));
    for (const s of of(h, 'backend_stopped').slice(0, 4))
      expect(s).toMatchObject({ exitCode: 3, signal: null, reason: 'exited with code 3' });
    expect(of(h, 'backend_started').length).toBe(h.sup.restarts + 1);
    expect(h.plans).toBe(h.sup.restarts + 1); // a fresh launch (new decoder) per start
    expect(h.sup.lastExit).toMatchObject({ code: 3, signal: null });
    const delays = h.logs
      .filter((l) => l.level === 'warn')
      .map((l) => Number(/restarting in (\d+) ms/.exec(l.msg)?.[1]));
    expect(delays.slice(0, 4)).toEqual([5, 10, 10, 10]);
  });

  it('a run that lasted healthyAfterMs resets the backoff to its initial delay', async () => {
    const h = supervise({ args: [FAKE, 'exit', '1'] }, { initialBackoffMs: 5, healthyAfterMs: 0 });
    h.sup.start();
    await until(() => h.sup.restarts >= 2, 'two restarts');
    await h.sup.stop();
    const delays = h.logs.map((l) => Number(/restarting in (\d+) ms/.exec(l.msg)?.[1])).filter((n) => n > 0);
    expect(delays.slice(0, 2)).toEqual([5, 5]);
  });

  it('stop() of a backend that ignores SIGTERM kills it with SIGKILL after killGraceMs, and resolves', async () => {
    const h = supervise({ args: [FAKE, 'ignore-term'] }, { killGraceMs: 300 });
    h.sup.start();
    await until(() => h.stderr.some((l) => l.startsWith('ready ')), 'the backend to be ready');
    const pid = Number(h.stderr.find((l) => l.startsWith('ready '))!.split(' ')[1]);
    const t0 = Date.now();
    await h.sup.stop();
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(5000); // well before execa's own 5 s force-kill
    expect(h.stderr).toContain('SIGTERM ignored');
    expect(h.sup.lastExit).toMatchObject({ signal: 'SIGKILL', reason: 'stopped by daxmon' });
    expect(h.events.at(-1)).toMatchObject({ type: 'backend_stopped', signal: 'SIGKILL', exitCode: null });
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
    expect(h.sup.restarts).toBe(0);
  });

  it('a command that does not exist gives a backend_stopped naming the command and ENOENT, and is retried', async () => {
    const missing = '/nonexistent/daxmon-fake-backend';
    const h = supervise({ command: missing, args: [] });
    h.sup.start();
    await until(() => of(h, 'backend_stopped').length >= 2 && h.sup.restarts >= 1, 'a retry');
    await h.sup.stop();
    const stopped = of(h, 'backend_stopped')[0]!;
    expect(stopped.reason).toContain(`could not start ${missing}`);
    expect(stopped.reason).toContain('ENOENT');
    expect(stopped).toMatchObject({ exitCode: null, signal: null });
    expect(h.plans).toBeGreaterThanOrEqual(2);
  });

  it('stderr reaches onStderrLine one line at a time, across chunks, including a last line without a newline', async () => {
    const h = supervise({ args: [FAKE, 'stderr'] }, { initialBackoffMs: 60_000 });
    h.sup.start();
    await until(() => of(h, 'backend_stopped').length === 1, 'the backend to exit');
    expect(h.stderr).toEqual(['first', 'second', 'third']);
  });

  it('gives up after maxConsecutiveFailures consecutive failed starts', async () => {
    const h = supervise({ args: [FAKE, 'exit', '1'] }, { maxConsecutiveFailures: 2 });
    h.sup.start();
    await until(() => h.sup.gaveUp, 'giving up');
    expect(h.plans).toBe(2);
    expect(h.sup.restarts).toBe(1);
    expect(of(h, 'backend_stopped')).toHaveLength(2);
    expect(h.sup.up).toBe(false);
    // No restart is pending once it has given up.
    expect((h.sup as unknown as { timer: unknown }).timer).toBeNull();
    expect(h.logs.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual([
      expect.stringContaining('giving up after 2 consecutive failures'),
    ]);
  });

  it('a stdout stream the decoder cannot read makes it restart the process', async () => {
    const h = supervise({
      args: [FAKE, 'events', '1', 'stay'],
      stdout: {
        push: () => {
          throw new Error('stream corrupt');
        },
        end: () => undefined,
      },
    });
    h.sup.start();
    await until(() => h.sup.restarts >= 1, 'a restart');
    await h.sup.stop();
    expect(of(h, 'backend_stopped')[0]).toMatchObject({ signal: 'SIGTERM', exitCode: null });
    expect(h.logs.some((l) => l.level === 'error' && l.msg.includes('stream corrupt; restarting it'))).toBe(
      true,
    );
  });

  it('a plan that throws is logged and retried with backoff', async () => {
    let calls = 0;
    const h = supervise({});
    const sup = new BackendSupervisor({
      backend: 'synthetic',
      emit: (e) => h.events.push(e),
      log: { debug() {}, info() {}, warn() {}, error: (msg) => h.logs.push({ level: 'error', msg }) },
      initialBackoffMs: 5,
      plan: () => {
        calls++;
        throw new Error('no snippets');
      },
    });
    running.push(sup);
    sup.start();
    await until(() => calls >= 3, 'three plans');
    await sup.stop();
    expect(h.logs[0]!.msg).toContain('cannot plan the backend: no snippets');
    expect(h.events).toEqual([]);
  });
});
