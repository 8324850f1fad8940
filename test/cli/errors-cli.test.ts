/**
 * The CLI's error path: a DaxmonError of any area prints `daxmon: CODE: message` once, without a
 * stack, and exits with its status; anything else is a bug, printed with its stack, exit 70. In
 * process (what coverage of src/cli.ts sees) and as users run it (compiled, under node).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main, reportError } from '../../src/cli.js';
import { DaxmonError } from '../../src/errors.js';
import { KernelReadError } from '../../src/kernel/errors.js';
import { BpftraceError } from '../../src/probes/bpftrace/errors.js';
import { VmError } from '../../lab/src/errors.js';
import { REPO, compileCli, type CompiledCli } from './compiled-cli.js';

const STACK = /^\s+at /m;
const STREAMS = path.join(REPO, 'test', 'fixtures', 'streams');

/** What reportError wrote and the exit status it chose. */
function report(err: unknown): { text: string; exit: number } {
  let text = '';
  const exit = reportError(err, (t) => (text += t));
  return { text, exit };
}

/** The error main() rejects with (or fails the test). */
async function rejection(argv: string[]): Promise<unknown> {
  try {
    await main(argv);
  } catch (err) {
    return err;
  }
  throw new Error(`main(${JSON.stringify(argv)}) did not fail`);
}

const occurrences = (s: string, sub: string) => s.split(sub).length - 1;

describe('reportError (the top-level error path)', () => {
  it.each([
    [new DaxmonError('DAXMON_E_USAGE', 'unknown command "x"'), 2],
    [new KernelReadError('DAXMON_E_MODEL_OVERRIDE_INVALID', '--model takes old or new'), 2],
    [new BpftraceError('DAXMON_E_BPFTRACE_NO_PROBES', 'no probe can attach on this host'), 2],
    [new DaxmonError('DAXMON_E_VM_BOOT', 'no boot reached the ready marker'), 1],
  ])('%s: "daxmon: CODE: message", the code once, no stack, its exit status', (err, exit) => {
    const r = report(err);
    expect(r.text).toBe(`daxmon: ${err.code}: ${err.message}\n`);
    expect(occurrences(r.text, 'DAXMON_E_')).toBe(1);
    expect(r.text).not.toMatch(STACK);
    expect(r.exit).toBe(exit);
  });

  it('anything else is a bug: "internal error" with the stack, exit 70', () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'pfn')");
    const r = report(bug);
    expect(r.exit).toBe(70);
    expect(r.text).toMatch(/^daxmon: internal error \(a bug; please report it\):\nTypeError: Cannot read/);
    expect(r.text).toMatch(STACK);
    expect(report('thrown string')).toEqual({
      text: 'daxmon: internal error (a bug; please report it):\nthrown string\n',
      exit: 70,
    });
  });

  it('a VM lab error is a DaxmonError too: its code once, exit 2 for a setup problem', () => {
    const r = report(new VmError('DAXMON_E_VM_TOOL_MISSING', 'qemu-system-x86_64 is not installed'));
    expect(r).toEqual({
      text: 'daxmon: DAXMON_E_VM_TOOL_MISSING: qemu-system-x86_64 is not installed\n',
      exit: 2,
    });
  });
});

describe('main (in process)', () => {
  let out = '';
  beforeAll(() => {
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
      out += String(s);
      return true;
    });
  });
  afterEach(() => {
    out = '';
  });
  afterAll(() => {
    vi.restoreAllMocks();
  });

  it.each([
    [['bogus'], /unknown command "bogus"; run "daxmon --help"/],
    [['run', '--nope'], /Unknown option '--nope'[^]*Run "daxmon run --help" for usage\./],
    [['run', '--listen', 'nowhere'], /--listen must be HOST:PORT/],
    [['run', '--listen', '127.0.0.1:70000'], /--listen must be HOST:PORT/],
    [['run', '--log-level', 'loud'], /--log-level must be one of fatal, error/],
    [
      ['run', '--max-folios', '0'],
      /--max-folios must be a number >= 1 \(plain decimal, at most 1000000000000\), got "0"/,
    ],
    // Number() reads these too; an option takes a plain decimal in a sane range only
    [
      ['run', '--idle-mismatch-seconds', '0x10'],
      /--idle-mismatch-seconds must be a number >= 0 .*got "0x10"/,
    ],
    [
      ['run', '--idle-mismatch-seconds', '1e300'],
      /--idle-mismatch-seconds must be a number >= 0 .*got "1e300"/,
    ],
    [['run', '--scan-interval-seconds', '1e3'], /got "1e3"/],
    [['run', '--max-folios', 'Infinity'], /got "Infinity"/],
    [['run', '--max-folios', ' 5'], /got " 5"/],
    [['run', '--max-folios', '+5'], /got "\+5"/],
    [['run', '--journal-max-bytes', '99999999999999'], /got "99999999999999"/],
    [['run', '--duration', ''], /--duration must be a number >= 0/],
    [['run', '--busy-wait-warn-seconds', '20', '--busy-wait-stuck-seconds', '5'], /must not be below/],
    [['run', '--no-journal', '--journal-dir', '/tmp/x'], /--no-journal and --journal-dir exclude each other/],
    [['run', '--record-format', 'binary'], /--record-format needs --record FILE/],
    [['record'], /daxmon record needs --out FILE/],
    [['record', '--out', '-'], /daxmon record needs --out FILE/],
    [['replay'], /takes one FILE \(got 0\)/],
    [['replay', '--model', 'ancient', '-'], /--model must be one of old, new/],
    [['pages'], /takes one PGMAP id \(got 0\)/],
    [['pages', 'pm0', '--count', '0'], /--count must be an integer from 1 to 4096/],
    [['doctor', '--model', 'x'], /--model must be one of old, new/],
    [['doctor', '--verbose'], /Run "daxmon doctor --help"/],
    [['lab', '--fs', 'btrfs'], /--fs must be ext4 or xfs/],
  ])('%j is DAXMON_E_USAGE, printed once, exit 2', async (argv, message) => {
    const err = await rejection(argv);
    expect(err).toBeInstanceOf(DaxmonError);
    expect(err).toMatchObject({ code: 'DAXMON_E_USAGE', message });
    const r = report(err);
    expect(r.exit).toBe(2);
    expect(r.text).toMatch(/^daxmon: DAXMON_E_USAGE: /);
    expect(occurrences(r.text, 'DAXMON_E_USAGE')).toBe(1);
  });

  it('a missing replay file is DAXMON_E_INPUT', async () => {
    const err = await rejection(['replay', path.join(os.tmpdir(), 'daxmon-no-such-file.ndjson')]);
    expect(err).toMatchObject({ code: 'DAXMON_E_INPUT', exitCode: 2, message: /no such file/ });
  });

  it('help and version print and exit 0', async () => {
    expect(await main([])).toBe(0);
    expect(out).toMatch(/^daxmon \S+ — live monitor/);
    for (const cmd of ['run', 'record', 'replay', 'doctor', 'pages', 'lab']) {
      out = '';
      expect(await main([cmd, '--help'])).toBe(0);
      expect(out, cmd).toMatch(new RegExp(`^Usage: daxmon ${cmd}`));
    }
    out = '';
    expect(await main(['help', 'pages'])).toBe(0);
    expect(out).toMatch(/^Usage: daxmon pages/);
    out = '';
    expect(await main(['--version'])).toBe(0);
    expect(out).toMatch(/^daxmon \d+\.\d+\.\d+\n$/);
  });

  it('replays a recorded stream: exit 0, and 1 with --fail-on-violation when a violation fired', async () => {
    const healthy = path.join(STREAMS, 'new-healthy-lifecycle.ndjson');
    const underflow = path.join(STREAMS, 'new-refcount_underflow.ndjson');
    expect(await main(['replay', '--fail-on-violation', healthy])).toBe(0);
    expect(out).toMatch(/^ {2}violations {2}0$/m);
    out = '';
    expect(await main(['replay', '--json', '--fail-on-violation', underflow])).toBe(1);
    expect(JSON.parse(out)).toMatchObject({ violations: { total: 1, byKind: { refcount_underflow: 1 } } });
  });
});

describe('daxmon as users run it', () => {
  let compiled: CompiledCli;
  let dir: string;
  beforeAll(async () => {
    compiled = await compileCli();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxmon-errors-cli-'));
  }, 120_000);
  afterAll(() => {
    compiled?.cleanup();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  function daxmon(
    args: string[],
    nodeArgs: string[] = [],
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const c = spawn(process.execPath, [...nodeArgs, compiled.cli, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, HOME: dir, XDG_CACHE_HOME: path.join(dir, 'cache') },
      });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (d) => (stdout += d));
      c.stderr.on('data', (d) => (stderr += d));
      c.on('exit', (code) => resolve({ code, stdout, stderr }));
    });
  }

  it('an unknown option is DAXMON_E_USAGE: the code once, no stack, exit 2', async () => {
    const [option, command] = await Promise.all([daxmon(['run', '--nope']), daxmon(['frobnicate'])]);
    for (const r of [option, command]) {
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^daxmon: DAXMON_E_USAGE: /);
      expect(occurrences(r.stderr, 'DAXMON_E_')).toBe(1);
      expect(r.stderr).not.toMatch(STACK);
    }
    expect(option.stderr).toMatch(/Unknown option '--nope'/);
    expect(command.stderr).toMatch(/unknown command "frobnicate"/);
  });

  it('a bug is "internal error" with the stack, exit 70', async () => {
    // A stdout that throws: `daxmon version` hits an error no code of daxmon's describes.
    const preload = `data:text/javascript,${encodeURIComponent(
      "process.stdout.write = () => { throw new TypeError('stdout exploded'); };",
    )}`;
    const r = await daxmon(['version'], ['--import', preload]);
    expect(r.code).toBe(70);
    expect(r.stderr).toMatch(
      /^daxmon: internal error \(a bug; please report it\):\nTypeError: stdout exploded/,
    );
    expect(r.stderr).toMatch(STACK);
    expect(r.stderr).not.toContain('DAXMON_E_');
  });

  it('daxmon lab that cannot start prints its VM lab code once, not "internal error"', async () => {
    // The compiled copy has no dist/cli.js for the guest to run: the lab's first check fails.
    const r = await daxmon(['lab', '--no-prometheus']);
    expect(r.stderr).toMatch(
      /^daxmon: DAXMON_E_VM_CONFIG: .*dist\/cli\.js does not exist; run npm run build/,
    );
    expect(occurrences(r.stderr, 'DAXMON_E_')).toBe(1);
    expect(r.stderr).not.toContain('internal error');
    expect(r.code).toBe(2);
  });
});
