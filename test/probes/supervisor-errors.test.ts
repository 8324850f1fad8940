/**
 * A backend failure reaches the log with its code: the supervisor's lines carry `code` as a field,
 * as the CLI prints it, so `DAXMON_E_LIBBPF_PROBE_UNAVAILABLE` can be found in a log search.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { BackendLaunch, BackendLog } from '../../src/probes/backend.js';
import { createLibbpfBackend } from '../../src/probes/libbpf/plan.js';
import { BackendSupervisor } from '../../src/probes/supervisor.js';
import { factsDevHost } from './bpftrace-facts.js';

type Line = { level: string; msg: string; fields: Record<string, unknown> | undefined };

const OPTS = { bpfBuildDir: '/opt/daxmon/bpf/build', bpftraceDir: '/opt/daxmon/bpf/bpftrace' };
const libbpf = createLibbpfBackend({ exists: () => true, defaultBuildDir: '/opt/daxmon/bpf/build' });

const running: BackendSupervisor[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

function supervise(plan: () => BackendLaunch, maxConsecutiveFailures: number | null) {
  const lines: Line[] = [];
  const at =
    (level: string) =>
    (msg: string, fields?: Record<string, unknown>): void => {
      lines.push({ level, msg, fields });
    };
  const log: BackendLog = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  const sup = new BackendSupervisor({
    backend: 'libbpf',
    plan,
    emit: () => undefined,
    log,
    initialBackoffMs: 5,
    maxBackoffMs: 10,
    maxConsecutiveFailures,
  });
  running.push(sup);
  return { sup, lines };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('the supervisor logs a backend failure with its code', () => {
  it('--strict with a probe that cannot attach: DAXMON_E_LIBBPF_PROBE_UNAVAILABLE on the plan and the give-up lines', () => {
    const { sup, lines } = supervise(() => libbpf.plan(factsDevHost(), { ...OPTS, strict: true }), 1);
    sup.start();
    const errors = lines.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(2);
    expect(errors[0]!.msg).toMatch(/^libbpf: cannot plan the backend: --strict: pgmap_register/);
    expect(errors[0]!.fields).toMatchObject({
      code: 'DAXMON_E_LIBBPF_PROBE_UNAVAILABLE',
      err: expect.stringMatching(/^--strict: /),
    });
    // The message says what failed; the code is a field, not repeated in the text.
    expect(errors[0]!.msg).not.toContain('DAXMON_E_');
    expect(errors[1]!.msg).toMatch(/giving up after 1 consecutive failures/);
    expect(errors[1]!.fields).toMatchObject({ code: 'DAXMON_E_LIBBPF_PROBE_UNAVAILABLE', exitCode: null });
    expect(sup.gaveUp).toBe(true);
  });

  it('the restart line after a failed plan carries the code too, and the exit status as exitCode', async () => {
    const { sup, lines } = supervise(() => libbpf.plan(factsDevHost(), { ...OPTS, strict: true }), null);
    sup.start();
    await until(() => lines.filter((l) => l.level === 'warn').length >= 2, 'two restarts');
    await sup.stop();
    const warn = lines.find((l) => l.level === 'warn')!;
    expect(warn.msg).toMatch(/^libbpf: plan failed: --strict: .*; restarting in 5 ms$/);
    expect(warn.fields).toMatchObject({
      code: 'DAXMON_E_LIBBPF_PROBE_UNAVAILABLE',
      exitCode: null,
      signal: null,
    });
  });

  it('a loader that fails with DAXMON_E_LOADER_*: its stderr line is an error with that code', async () => {
    const { sup, lines } = supervise(
      () => ({
        ...libbpf.plan(factsDevHost(), { ...OPTS, strict: false }),
        // The loader's own failure output (bpf/libbpf/loader.c out_error), then its exit.
        command: process.execPath,
        args: [
          '-e',
          'process.stderr.write("daxmon-loader: DAXMON_E_LOADER_RINGBUF: ring buffer: Operation not permitted\\n"); process.exit(1)',
        ],
      }),
      1,
    );
    sup.start();
    await until(() => sup.gaveUp, 'the supervisor to give up');
    const loader = lines.find((l) => l.msg.startsWith('libbpf loader:'));
    expect(loader).toMatchObject({ level: 'error', fields: { code: 'DAXMON_E_LOADER_RINGBUF' } });
    // A process that ran and exited has no error code of its own: the exit status says it.
    expect(lines.at(-1)).toMatchObject({ level: 'error', fields: { exitCode: 1 } });
    expect(lines.at(-1)!.fields).not.toHaveProperty('code');
  });
});
