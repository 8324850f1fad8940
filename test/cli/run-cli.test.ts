/**
 * `daxmon run` as a process (src/ compiled, see compiled-cli.ts): it stops in order on SIGTERM or
 * after --duration and exits 0. With --backend none and --model new nothing here depends on the
 * host's kernel (the daemon itself is tested on fixture kernels in test/daemon/run.test.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileCli, REPO, type CompiledCli } from './compiled-cli.js';

let compiled: CompiledCli;
const children: ChildProcess[] = [];

beforeAll(async () => {
  compiled = await compileCli();
});
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  compiled?.cleanup();
});

interface Daemon {
  child: ChildProcess;
  /** Parsed pino lines from stderr so far. */
  log: { msg?: string; url?: string; why?: string }[];
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

const RUN = ['run', '--listen', '127.0.0.1:0', '--backend', 'none', '--model', 'new', '--no-journal'];

describe('daxmon run as a process', () => {
  it('serves until SIGTERM, then shuts down in order and exits 0', async () => {
    const d = daxmon(RUN);
    const url = await until(
      () => d.log.find((l) => l.msg === 'serving metrics and API')?.url?.replace(/\/metrics$/, ''),
      'the daemon to listen',
    );
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({
      reason: 'no probe backend can run here: none requested (--backend none)',
    });
    await until(() => d.log.find((l) => l.msg === 'daxmon running'), 'daxmon running');
    d.child.kill('SIGTERM');
    expect(await d.exited).toEqual({ code: 0, signal: null });
    const msgs = d.log.map((l) => l.msg);
    expect(d.log.find((l) => l.msg === 'shutting down')).toMatchObject({ why: 'SIGTERM' });
    expect(msgs.at(-1)).toBe('stopped');
  });

  it('--duration stops it by itself with exit code 0', async () => {
    const d = daxmon([...RUN, '--duration', '1']);
    expect(await d.exited).toEqual({ code: 0, signal: null });
    expect(d.log.find((l) => l.msg === 'shutting down')).toMatchObject({ why: '--duration 1s elapsed' });
  });

  it('--duration longer than setTimeout allows (2500000 s, 29 days) does not stop it at once', async () => {
    const d = daxmon([...RUN, '--duration', '2500000']);
    await until(() => d.log.find((l) => l.msg === 'daxmon running'), 'daxmon running');
    // The overflowing timer fired 1 ms after start: the SIGTERM found it stopping already.
    d.child.kill('SIGTERM');
    expect(await d.exited).toEqual({ code: 0, signal: null });
    expect(d.log.find((l) => l.msg === 'shutting down')).toMatchObject({ why: 'SIGTERM' });
  });

  it('a token file others may read is refused like an ssh key: DAXMON_E_API_TOKEN_MODE, chmod 600', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxmon-token-'));
    const token = path.join(dir, 'token');
    fs.writeFileSync(token, 'a-token-of-sufficient-length\n', { mode: 0o644 });
    fs.chmodSync(token, 0o644);
    const open = daxmon([...RUN, '--api-token-file', token]);
    expect(await open.exited).toEqual({ code: 2, signal: null });
    expect(open.log.map((l) => l.msg).join('\n')).toMatch(
      new RegExp(
        `^daxmon: DAXMON_E_API_TOKEN_MODE: permissions 0644 of the API token file ${token} are too open \\(its group or others may read it\\): chmod 600 ${token}$`,
        'm',
      ),
    );
    fs.chmodSync(token, 0o600);
    const ok = daxmon([...RUN, '--api-token-file', token]);
    await until(() => ok.log.find((l) => l.msg === 'daxmon running'), 'daxmon running with a 0600 token');
    ok.child.kill('SIGTERM');
    expect(await ok.exited).toEqual({ code: 0, signal: null });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('record without --out is a usage error (exit 2), before anything starts', async () => {
    const d = daxmon(['record', '--backend', 'none']);
    expect(await d.exited).toEqual({ code: 2, signal: null });
    expect(d.log.map((l) => l.msg).join('\n')).toMatch(
      /^daxmon: DAXMON_E_USAGE: daxmon record needs --out FILE \(a file path\)$/m,
    );
  });
});
