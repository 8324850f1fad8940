import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { renderJob } from '../../lab/src/guest.js';
import { LAB_MARKERS, renderLabJob } from '../../lab/src/lab.js';

// The lab's guest job run for real by the host's /bin/sh (dash, as in the guest), with a stand-in
// for daxmon: the stop file, SIGTERM, the kill timeout and the exit status are the guest's own code.
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lab-job-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the job in its own process group (its `tail -F` outlives it, as in the guest) and kills the group after. */
function runJob(
  daxmon: string,
  onOutput: (all: string) => void,
  stopSeconds = 5,
): Promise<{ rc: number; out: string }> {
  return new Promise((resolve) => {
    const job = renderJob(':', renderLabJob(['/bin/sh', '-c', daxmon], false, stopSeconds));
    const child = spawn('/bin/sh', ['-c', job], {
      env: { ...process.env, DAXMON_RESULTS: dir },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const add = (d: Buffer) => {
      out += d.toString();
      onOutput(out);
    };
    child.stdout.on('data', add);
    child.stderr.on('data', add);
    child.on('exit', (code) => {
      setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // gone
        }
        resolve({ rc: code ?? -1, out });
      }, 200);
    });
  });
}

const stopWhen = (marker: string) => {
  let sent = false;
  return (all: string) => {
    if (!sent && all.includes(marker)) {
      sent = true;
      void writeFile(join(dir, 'lab-stop'), 'stop\n');
    }
  };
};

// A daxmon that logs its clean shutdown on SIGTERM, like the real one (shutting down … stopped).
const CLEAN = `trap 'echo shutting down; mkdir -p "$DAXMON_RESULTS/journal"; echo x > "$DAXMON_RESULTS/journal/violations-000001.ndjson"; echo stopped; exit 0' TERM; echo running; while :; do sleep 0.1; done`;

describe('the lab guest job', () => {
  it('on the stop file sends daxmon SIGTERM, waits for its clean stop and exits with its status', async () => {
    const r = await runJob(CLEAN, stopWhen('[daxmon] running'));
    expect(r.out).toContain(LAB_MARKERS.started);
    expect(r.out).toContain(LAB_MARKERS.stopping);
    expect(r.out).toContain('[daxmon] shutting down');
    expect(r.out).toContain('[daxmon] stopped');
    expect(r.out).toContain(`${LAB_MARKERS.journal} 1 2`);
    expect(r.out).toContain(`${LAB_MARKERS.stopped} rc=0`);
    expect(r.out).not.toContain(LAB_MARKERS.killed);
    expect(r.rc).toBe(0);
  }, 30_000);

  it('kills a daxmon that ignores SIGTERM and exits non-zero', async () => {
    const r = await runJob(
      `trap '' TERM; echo running; while :; do sleep 0.1; done`,
      stopWhen('[daxmon] running'),
      1,
    );
    expect(r.out).toContain(LAB_MARKERS.killed);
    expect(r.out).toContain(`${LAB_MARKERS.stopped} rc=137`);
    expect(r.rc).toBe(137);
  }, 30_000);

  it('reports a daxmon that exits by itself, with its status', async () => {
    const r = await runJob('echo oops >&2; exit 3', () => {});
    expect(r.out).toContain(LAB_MARKERS.exited);
    expect(r.out).not.toContain(LAB_MARKERS.stopping);
    expect(r.out).toContain('[daxmon] oops');
    expect(r.out).toContain(`${LAB_MARKERS.stopped} rc=3`);
    expect(r.rc).toBe(3);
    expect(await readFile(join(dir, 'daxmon.err'), 'utf8')).toBe('oops\n');
  }, 30_000);
});
