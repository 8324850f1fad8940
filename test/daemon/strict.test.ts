/**
 * `daxmon run --strict` fails, and says why (issue 13, item 13): a plan the backend refuses, a
 * loader that exits because a hook did not attach (--strict passed on to it) or because it may
 * not load BPF (run as nobody), and a backend that dies, each stop the daemon and end the command
 * with the failure's code and the probes that did not attach, instead of being retried forever.
 * The command line is parsed by the CLI's own parser and run by the command's own runDaemon, on a
 * fixture kernel, with the real libbpf backend whose loader is test/daemon/fixtures/fake-loader.mjs.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCommand, reportError } from '../../src/cli.js';
import { runDaemon } from '../../src/commands/run.js';
import type { DaemonOptions } from '../../src/daemon/options.js';
import type { KernelFacts } from '../../src/kernel/facts.js';
import type { Backend } from '../../src/probes/backend.js';
import { createLibbpfBackend } from '../../src/probes/libbpf/plan.js';
import { facts73, factsDevHost } from '../probes/bpftrace-facts.js';

const FAKE_LOADER = path.join(__dirname, 'fixtures', 'fake-loader.mjs');

/** The real libbpf backend (plan, decoder, stderr handling), its loader replaced by the fake. */
function fakeLoaderBackend(mode: string, counter: { plans: number }): Backend {
  const real = createLibbpfBackend({
    exists: () => true,
    log: { debug() {}, info() {}, warn() {}, error() {} },
  });
  return {
    ...real,
    plan(facts, opts) {
      counter.plans++;
      const launch = real.plan(facts, opts);
      expect(launch.args).toContain('--strict');
      return { ...launch, command: process.execPath, args: [FAKE_LOADER, mode] };
    },
  };
}

interface Outcome {
  code: number;
  printed: string;
  plans: number;
  log: { msg: string }[];
}

/** `daxmon run --strict …` on `facts`: the exit status and what the CLI prints. */
async function runStrict(facts: KernelFacts, mode: string): Promise<Outcome> {
  const parsed = parseCommand([
    'run',
    '--strict',
    '--backend',
    'libbpf',
    '--listen',
    '127.0.0.1:0',
    '--no-journal',
  ]);
  if (parsed.cmd !== 'run') throw new Error(`parsed as ${parsed.cmd}`);
  const counter = { plans: 0 };
  const log: { msg: string }[] = [];
  const o: DaemonOptions = {
    ...parsed.options,
    facts,
    discover: false,
    backendCatalog: { libbpf: fakeLoaderBackend(mode, counter) },
    logDestination: { write: (s: string) => void log.push(JSON.parse(s) as { msg: string }) },
  };
  let guard: NodeJS.Timeout | undefined;
  const stillRunning = new Promise<never>((_, reject) => {
    guard = setTimeout(() => reject(new Error('daxmon run --strict was still running after 12 s')), 12_000);
  });
  let printed = '';
  let code: number;
  try {
    code = await Promise.race([runDaemon(o), stillRunning]);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('daxmon run --strict was still running')) throw err;
    code = reportError(err, (t) => (printed += t));
  } finally {
    clearTimeout(guard);
  }
  return { code, printed, plans: counter.plans, log };
}

describe('daxmon run --strict', () => {
  it('a loader that exits on a hook that did not attach: its code, and the probes, exit 2; no retry', async () => {
    const r = await runStrict(facts73(), 'strict');
    expect(r.code).toBe(2);
    expect(r.printed).toBe(
      'daxmon: DAXMON_E_LOADER_STRICT: --strict: backend libbpf: exited with code 1 ' +
        '(daxmon-loader: DAXMON_E_LOADER_STRICT: 2 of 20 hooks could not be attached (--strict)); ' +
        'probes not attached: folio_map_pte (fexit/vmf_insert_mixed: attach: No such file or directory (ENOENT)); ' +
        'busy_page (fexit/dax_layout_busy_page_range: attach: Invalid argument (EINVAL))\n',
    );
    expect(r.plans).toBe(1);
    expect(r.log.some((l) => /restarting in/.test(l.msg))).toBe(false);
    // It stopped in order before exiting.
    expect(r.log.slice(-2).map((l) => l.msg)).toEqual(['shutting down', 'stopped']);
  });

  it('a loader that may not load BPF (as nobody): DAXMON_E_LOADER_LOAD, at once', async () => {
    const r = await runStrict(facts73(), 'eperm');
    expect(r.code).toBe(2);
    expect(r.printed).toBe(
      'daxmon: DAXMON_E_LOADER_LOAD: --strict: backend libbpf: exited with code 1 ' +
        '(daxmon-loader: DAXMON_E_LOADER_LOAD: daxmon.bpf.o: load: Operation not permitted (EPERM)); ' +
        'probes not attached: none reported before it ended\n',
    );
    expect(r.plans).toBe(1);
  });

  it('a plan refused for a probe this kernel lacks: DAXMON_E_LIBBPF_PROBE_UNAVAILABLE naming the probes', async () => {
    const r = await runStrict(factsDevHost(), 'strict');
    expect(r.code).toBe(2);
    expect(r.printed).toMatch(
      /^daxmon: DAXMON_E_LIBBPF_PROBE_UNAVAILABLE: libbpf: --strict: pgmap_register \(/,
    );
    expect(r.plans).toBe(1);
  });

  it('a backend that dies with no code of its own: DAXMON_E_STRICT_BACKEND with its exit', async () => {
    const r = await runStrict(facts73(), 'crash');
    expect(r.code).toBe(2);
    expect(r.printed).toBe(
      'daxmon: DAXMON_E_STRICT_BACKEND: --strict: backend libbpf: exited with code 3; probes not attached: none reported before it ended\n',
    );
  });
});
