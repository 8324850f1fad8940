#!/usr/bin/env node
/**
 * daxmon's command line: `daxmon run | record | replay | doctor | kconfig | pages | lab | version`.
 * Each command parses its own flags strictly (an unknown flag is an error with the command's help
 * hint); user mistakes print `daxmon: CODE: message` and exit 2, without a stack trace.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { CheckConfig } from './checks/types.js';
import type { ReplayCommandOptions } from './commands/replay.js';
import type { DaemonOptions } from './daemon/options.js';
import { DaxmonError, isDaxmonError } from './errors.js';
import { KCONFIG_SCOPES, type KconfigScope } from './kernel/kconfig-options.js';
import { RECORDING_FORMATS } from './events/recording.js';
import { BACKEND_CHOICES, type BackendChoice } from './probes/select.js';
import { parsePagesQuery } from './scan/pages-query.js';
import { DEFAULT_SCAN_CONFIG } from './scan/service.js';
import type { FsyncPolicy } from './violations/journal.js';

const VERSION = readVersion();

const COMMON_CHECK_HELP = `
Check thresholds:
  --idle-mismatch-seconds N      V6: how long an unmapped, unpinned folio may sit off its idle
                                 refcount before it is a leaked reference (default 30)
  --busy-wait-warn-seconds N     V8: a busy-page wait older than this is a warning (default 10)
  --busy-wait-stuck-seconds N    V8: ... and a violation (default min(60, hung_task_timeout_secs/2))
  --teardown-release-warn-seconds N
                                 V5: pgmap ref still held this long after teardown began is a
                                 slow-release warning (default 10)`;

const HELP_TEXT = {
  main: `daxmon ${VERSION} — live monitor of ZONE_DEVICE / FS DAX folio refcounting

Usage: daxmon <command> [options]

Commands:
  run       attach probes, check the refcount model live, serve /metrics and the API
  record    like run, and write the live event stream to a file (--out)
  replay    feed a recorded stream through the same pipeline and print what it finds
  doctor    report what this kernel offers: refcount model, BTF, probe types, pmem
  kconfig   print the kernel config fragment daxmon needs and recommends (merge_config.sh)
  pages     print the kernel's state of a pgmap's pages (from a running daemon's last scan)
  lab       boot a DAX-capable VM (qemu, memmap= pmem) running daxmon and a workload
  version   print the version

Run "daxmon <command> --help" for a command's options.
Docs: README.md, docs/ (events, metrics, API, checks, errors).`,
  run: `Usage: daxmon run [options]

Attach probes to the running kernel, track pgmaps and DAX folios, check them against the kernel's
refcount model, and serve Prometheus metrics and a JSON API. Needs root (or CAP_BPF + CAP_PERFMON)
for the probes; without them it still serves, reporting every probe as unavailable.

Options:
  --listen HOST:PORT     where to serve HTTP (default 127.0.0.1:9464)
  --backend NAME         auto | libbpf | bpftrace | none (default auto: libbpf where it loads)
  --strict               fail instead of degrading: exit non-zero, with the error code and the
                         probes that did not attach, when no backend can run, a probe cannot
                         attach or a backend exits (without it, backends are restarted)
  --model old|new        override the detected refcount model (old: ≤6.14, new: ≥6.15)
  --journal-dir DIR      violation journal (default /var/lib/daxmon as root,
                         else ~/.local/state/daxmon)
  --no-journal           keep violations in memory only
  --fsync POLICY         always | interval | never (default always)
  --retain-violations N  violations the API serves, newest first (default 10000); older
                         ones are counted in /api/violations' olderOutsideWindow
  --journal-max-bytes N  journal bytes kept on disk, in 8 rotated files (default 536870912);
                         the oldest file goes first (docs/journal.md)
  --record FILE          also write the live event stream to FILE (replay it later)
  --record-format FMT    ndjson | binary (default: binary for a .dxb file, else ndjson);
                         binary replays several times faster, NDJSON is greppable
  --api-token-file FILE  bearer token that unlocks raw kernel addresses in the API; the file
                         must be readable by its owner only (chmod 600)
  --max-folios N         track at most N folios (default 33554432)
  --duration SECONDS     stop by itself after this long (any length)
  --log-level LEVEL      fatal | error | warn | info | debug | trace (default info)
  --scan-interval-seconds N
                         read every pgmap's struct pages every N seconds and reconcile
                         (default 300; 0 = never; needs root and CONFIG_KALLSYMS_ALL; docs/scan.md)
  --scan-pages-per-second N
                         scan budget: struct pages read per second at most (default 250000)
${COMMON_CHECK_HELP}

Endpoints: /metrics /healthz /readyz /api/state /api/pgmaps /api/pgmaps/:id/pages
           /api/violations /api/checks`,
  pages: `Usage: daxmon pages PGMAP [--from PFN] [--count N] [--url URL] [--json]

Print the kernel's own state of a pgmap's pages as the running daemon's last struct-page scan
read them (GET /api/pgmaps/PGMAP/pages): per page its state (idle, mapped, pinned, referenced,
free, tail), refcount, mapcount, pincount, order and whether a DAX entry owns it.

Options:
  PGMAP          the pgmap's id, as /api/pgmaps lists it (pm0, pm1, ...)
  --from PFN     first pfn (decimal or 0x hex; default the pgmap's first pfn)
  --count N      pages, 1 to 4096 (default 64)
  --url URL      the daemon (default http://127.0.0.1:9464)
  --json         print the API's JSON as it is

Exit status: 0 printed; 1 the daemon answered with an error (its message is printed); 2 usage.`,
  record: `Usage: daxmon record --out FILE [run options]

Run the probes and write the live event stream to FILE: NDJSON (a header line, then one event
per line) or, for a .dxb file or with --record-format binary, the compact binary format that
replays several times faster (docs/events.md). "daxmon replay FILE" reads either and reproduces the
live run's state and violations. Serves HTTP only with --listen. Stop with Ctrl-C or --duration.

Options: --out FILE (required, "-" is not allowed: stdout is not a file), --record-format
ndjson|binary, and every "daxmon run" option (see daxmon run --help).`,
  replay: `Usage: daxmon replay [options] FILE

Feed a recorded stream (from "daxmon record", NDJSON or binary, told apart by its first bytes; or
NDJSON written by hand; "-" reads stdin) through exactly the live pipeline and print a summary: events, pgmaps, folios, violations by kind.

Options:
  --json                 print the summary as JSON
  --strict               stop at the first malformed line
  --fail-on-violation    exit 1 if any violation fired
  --model old|new        override (or supply, for a headerless stream) the refcount model
  --journal-dir DIR      also append the violations to a journal in DIR
${COMMON_CHECK_HELP}

Exit status: 0 done; 1 violations with --fail-on-violation; 2 unusable input or usage error;
3 malformed lines (each is reported with its line number; the rest was still processed unless
--strict).`,
  doctor: `Usage: daxmon doctor [--json] [--model old|new]

Report the kernel release, the refcount model and the evidence for it, BTF, which BPF program
types load here, bpftrace/clang/libbpf versions, and the pmem/dax devices with their modes.

Options:
  --json             print the whole report as JSON ("status" holds the verdict below)
  --model old|new    override the refcount model detection

Exit status (the report's last line, "Status: …", says which and why; docs/doctor.md):
  0 ready: nothing to report (every BPF program type loads, pmem present, everything read)
  1 degraded: daxmon runs here, without what the report lists (problems, refused or untested
    program types, no pmem)
  2 usage error, or doctor itself failed (a bug)
  3 no BPF program type loads here: daxmon can attach no probe (replay still works)`,
  kconfig: `Usage: daxmon kconfig [--scope daxmon|pmem|lab|all] [--required] [--out FILE]

Print the kernel config fragment for a kernel you build yourself: the options daxmon requires,
those it recommends (each with why and what it costs), and, with the default --scope all, what
pmem and "daxmon lab" need to boot the kernel under qemu. Merge it into your config:

  daxmon kconfig > daxmon.config
  scripts/kconfig/merge_config.sh -m .config daxmon.config && make olddefconfig

Options:
  --scope S      daxmon: the monitor; pmem: pmem namespaces with struct pages; lab: what the VM
                 lab adds (memmap= pmem, virtio, 9p, ext4, xfs, serial console); all (default)
  --required     only the required options
  --out FILE     write the fragment to FILE instead of stdout

"daxmon doctor" reports which of these the running kernel lacks. The same fragment ships as
deploy/kconfig/daxmon.config; docs/kernel-model.md §14 has the evidence.`,
  lab: `Usage: daxmon lab [options]

Boot a Debian kernel under qemu (software emulation, no KVM needed) with pmem, run daxmon and a
looping DAX workload inside, forward daxmon's HTTP port to this host and print the URLs. Ctrl-C
stops daxmon and the guest (twice to force). This is the way to see daxmon work on a machine
without pmem. Kernels are downloaded from Debian into ~/.cache/daxmon on first use. See
docs/vm-lab.md.

When Prometheus is installed (Debian's "prometheus" package), the lab also runs one on this host:
it scrapes daxmon every 2 s through the forwarded port, loads dashboards/alerts.yml, keeps its data
in a temporary folder, and stops with the lab. Its URL is printed beside daxmon's.

Options:
  --kernel SERIES    7 (new refcount model, default), 6.12 or 6.1 (old model)
  --kernel IMAGE     a kernel you built (arch/x86/boot/bzImage), with
    --modules DIR    its modules (lib/modules/RELEASE after make modules_install INSTALL_MOD_PATH=…;
                     not needed with CONFIG_MODULES off: every driver built in)
    --config FILE    the .config it was built from (default DIR/config or DIR/build/.config)
  --kernel-tree DIR  a kernel build tree after make: bzImage, .config, modules_install into the cache
                     A kernel lacking what daxmon or the lab needs is refused before booting, with
                     the missing options named ("daxmon kconfig" prints the fragment to merge).
  --fs ext4|xfs      filesystem mounted -o dax (default ext4)
  --pmem KIND        memmap (memmap=1G!5G, default) or nvdimm-fsdax (qemu NVDIMM, fsdax namespace)
  --no-workload      do not loop the demo workload
  --guest-port N     port daxmon listens on in the guest (default 9464)
  --duration SECONDS stop by itself after this long
  --no-prometheus    do not start the host Prometheus

Exit status: 0 if daxmon's /metrics answered through the forwarded port, 1 otherwise.`,
};

/** Help by topic; a Map, since the topic is whatever follows `daxmon help` (`constructor` too). */
const HELP: ReadonlyMap<string, string> = new Map(Object.entries(HELP_TEXT));

type Values = Record<string, string | boolean | undefined>;

const CHECK_OPTIONS = {
  'idle-mismatch-seconds': { type: 'string' },
  'busy-wait-warn-seconds': { type: 'string' },
  'busy-wait-stuck-seconds': { type: 'string' },
  'teardown-release-warn-seconds': { type: 'string' },
} as const;

const RUN_OPTIONS = {
  listen: { type: 'string' },
  backend: { type: 'string' },
  strict: { type: 'boolean' },
  model: { type: 'string' },
  'journal-dir': { type: 'string' },
  'no-journal': { type: 'boolean' },
  fsync: { type: 'string' },
  'retain-violations': { type: 'string' },
  'journal-max-bytes': { type: 'string' },
  record: { type: 'string' },
  'record-format': { type: 'string' },
  'api-token-file': { type: 'string' },
  'max-folios': { type: 'string' },
  duration: { type: 'string' },
  'log-level': { type: 'string' },
  'scan-interval-seconds': { type: 'string' },
  'scan-pages-per-second': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  ...CHECK_OPTIONS,
} as const;

function parse(
  cmd: string,
  argv: readonly string[],
  options: ParseArgsConfig['options'],
  allowPositionals = false,
): { values: Values; positionals: string[] } {
  let r: { values: Values; positionals: string[] };
  try {
    const parsed = parseArgs({ args: [...argv], options, allowPositionals, strict: true });
    r = { values: parsed.values as Values, positionals: parsed.positionals };
  } catch (err) {
    throw new DaxmonError(
      'DAXMON_E_USAGE',
      `${(err as Error).message}\nRun "daxmon ${cmd} --help" for usage.`,
    );
  }
  // An empty value is never meant: `--journal-dir ''` (an unset variable) once turned the
  // journal off, `--record ''` the recording, `--listen ''` back to the default address.
  for (const [name, value] of Object.entries(r.values)) {
    if (value !== '') continue;
    throw new DaxmonError('DAXMON_E_USAGE', `--${name} '' is empty${EMPTY_HINT.get(name) ?? ''}`);
  }
  return r;
}

/** What to say when a flag was given an empty value, where there is something better to say. */
const EMPTY_HINT: ReadonlyMap<string, string> = new Map([
  ['journal-dir', ': name a directory, or give --no-journal to keep violations in memory only'],
  ['record', ': name the file to record to, or leave --record out'],
  ['api-token-file', ': name the token file, or leave the option out (the API then omits kernel addresses)'],
  ['out', ': name the file to write to'],
]);

/**
 * Every numeric option's value is a plain decimal number (`30`, `0.5`) from `min` to NUM_MAX: not
 * what Number() also reads (`0x10`, `1e300`, `Infinity`, ` 5 `), which would turn a typo into a
 * value nobody meant. NUM_MAX (10^12: seconds in 30 000 years, far more folios or bytes than any
 * machine) keeps every value exact and every product with it finite.
 */
const PLAIN_DECIMAL = /^\d{1,13}(?:\.\d{1,9})?$/;
const NUM_MAX = 1e12;

function num(v: Values, name: string, min: number): number | undefined {
  const raw = v[name];
  if (raw === undefined) return undefined;
  const n = typeof raw === 'string' && PLAIN_DECIMAL.test(raw) ? Number(raw) : NaN;
  if (!(n >= min && n <= NUM_MAX)) {
    throw new DaxmonError(
      'DAXMON_E_USAGE',
      `--${name} must be a number >= ${min} (plain decimal, at most ${NUM_MAX}), got "${String(raw)}"`,
    );
  }
  return n;
}

function oneOf<T extends string>(v: Values, name: string, allowed: readonly T[]): T | undefined {
  const raw = v[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !allowed.includes(raw as T)) {
    throw new DaxmonError(
      'DAXMON_E_USAGE',
      `--${name} must be one of ${allowed.join(', ')}, got "${String(raw)}"`,
    );
  }
  return raw as T;
}

function checkConfig(v: Values, live: boolean): Partial<CheckConfig> {
  const c: Partial<CheckConfig> = {};
  const set = (k: keyof CheckConfig, flag: string) => {
    const n = num(v, flag, 0);
    if (n !== undefined) c[k] = n;
  };
  set('idleMismatchSeconds', 'idle-mismatch-seconds');
  set('busyWaitWarnSeconds', 'busy-wait-warn-seconds');
  set('busyWaitStuckSeconds', 'busy-wait-stuck-seconds');
  set('teardownReleaseWarnSeconds', 'teardown-release-warn-seconds');
  if (live && c.busyWaitStuckSeconds === undefined) {
    // docs/kernel-model.md V8: violate at min(60 s, hung_task_timeout_secs / 2).
    try {
      const h = Number(fs.readFileSync('/proc/sys/kernel/hung_task_timeout_secs', 'utf8'));
      if (Number.isFinite(h) && h > 0) c.busyWaitStuckSeconds = Math.min(60, h / 2);
    } catch {
      // no hung-task detector: keep the default
    }
  }
  if (
    c.busyWaitWarnSeconds !== undefined &&
    c.busyWaitStuckSeconds !== undefined &&
    c.busyWaitStuckSeconds < c.busyWaitWarnSeconds
  ) {
    throw new DaxmonError(
      'DAXMON_E_USAGE',
      '--busy-wait-stuck-seconds must not be below --busy-wait-warn-seconds',
    );
  }
  return c;
}

function parseListen(s: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(s);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) {
    throw new DaxmonError('DAXMON_E_USAGE', `--listen must be HOST:PORT (e.g. 127.0.0.1:9464), got "${s}"`);
  }
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

function defaultJournalDir(): string {
  if (process.getuid?.() === 0) return '/var/lib/daxmon';
  const base = process.env.XDG_STATE_HOME ?? path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'daxmon');
}

/** The options `run` and `record` share, from their flags. */
function daemonOptions(v: Values, record: boolean): DaemonOptions {
  if (v['record-format'] !== undefined && !(record ? v.out : v.record)) {
    throw new DaxmonError(
      'DAXMON_E_USAGE',
      '--record-format needs --record FILE (or daxmon record --out FILE)',
    );
  }
  if (v['no-journal'] && v['journal-dir'] !== undefined) {
    throw new DaxmonError('DAXMON_E_USAGE', '--no-journal and --journal-dir exclude each other');
  }
  const level =
    oneOf(v, 'log-level', ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const) ?? 'info';
  return {
    listen: v.listen ? parseListen(v.listen as string) : record ? null : { host: '127.0.0.1', port: 9464 },
    backend: oneOf(v, 'backend', BACKEND_CHOICES) ?? ('auto' as BackendChoice),
    strict: Boolean(v.strict),
    model: oneOf(v, 'model', ['old', 'new'] as const),
    journalDir: v['no-journal'] ? null : ((v['journal-dir'] as string | undefined) ?? defaultJournalDir()),
    fsync: oneOf(v, 'fsync', ['always', 'interval', 'never'] as const) ?? ('always' as FsyncPolicy),
    retainViolations: num(v, 'retain-violations', 1),
    journalMaxBytes: num(v, 'journal-max-bytes', 32768),
    logLevel: level,
    recordPath: v.record as string | undefined,
    recordFormat: oneOf(v, 'record-format', RECORDING_FORMATS),
    apiTokenFile: v['api-token-file'] as string | undefined,
    checkConfig: checkConfig(v, true),
    maxFolios: num(v, 'max-folios', 1),
    durationSeconds: num(v, 'duration', 0),
    scan: {
      intervalSeconds: num(v, 'scan-interval-seconds', 0) ?? DEFAULT_SCAN_CONFIG.intervalSeconds,
      pagesPerSecond: num(v, 'scan-pages-per-second', 1) ?? DEFAULT_SCAN_CONFIG.pagesPerSecond,
    },
  };
}

/** A command line as parsed: what to run, with its options. Parsing does nothing else. */
export type ParsedCommand =
  | { cmd: 'help'; topic: string }
  | { cmd: 'version' }
  | { cmd: 'run'; options: DaemonOptions }
  | { cmd: 'record'; options: DaemonOptions & { out: string } }
  | { cmd: 'replay'; file: string; options: ReplayCommandOptions }
  | { cmd: 'doctor'; json: boolean; model?: 'old' | 'new' }
  | { cmd: 'kconfig'; scopes: KconfigScope[]; requiredOnly: boolean; out?: string }
  | { cmd: 'pages'; pgmap: string; query: Record<string, unknown>; url: string; json: boolean }
  | { cmd: 'lab'; argv: string[] };

function parseRun(argv: string[]): ParsedCommand {
  const { values: v } = parse('run', argv, RUN_OPTIONS);
  if (v.help) return { cmd: 'help', topic: 'run' };
  return { cmd: 'run', options: daemonOptions(v, false) };
}

function parseRecord(argv: string[]): ParsedCommand {
  const { values: v } = parse('record', argv, { ...RUN_OPTIONS, out: { type: 'string' } });
  if (v.help) return { cmd: 'help', topic: 'record' };
  const out = v.out as string | undefined;
  if (!out || out === '-') {
    throw new DaxmonError('DAXMON_E_USAGE', 'daxmon record needs --out FILE (a file path)');
  }
  return { cmd: 'record', options: { ...daemonOptions(v, true), out } };
}

function parsePages(argv: string[]): ParsedCommand {
  const { values: v, positionals } = parse(
    'pages',
    argv,
    {
      from: { type: 'string' },
      count: { type: 'string' },
      url: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    true,
  );
  if (v.help) return { cmd: 'help', topic: 'pages' };
  if (positionals.length !== 1)
    throw new DaxmonError(
      'DAXMON_E_USAGE',
      `daxmon pages takes one PGMAP id (got ${positionals.length}); see daxmon pages --help`,
    );
  const q: Record<string, unknown> = {};
  if (v.from !== undefined) q.from = v.from;
  if (v.count !== undefined) q.count = v.count;
  const pq = parsePagesQuery(q);
  if (!pq.ok) throw new DaxmonError('DAXMON_E_USAGE', pq.message.replace(/^(from|count)/, '--$1'));
  return {
    cmd: 'pages',
    pgmap: positionals[0]!,
    query: q,
    url: (v.url as string | undefined) ?? 'http://127.0.0.1:9464',
    json: Boolean(v.json),
  };
}

function parseReplay(argv: string[]): ParsedCommand {
  const { values: v, positionals } = parse(
    'replay',
    argv,
    {
      json: { type: 'boolean' },
      strict: { type: 'boolean' },
      'fail-on-violation': { type: 'boolean' },
      model: { type: 'string' },
      'journal-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      ...CHECK_OPTIONS,
    },
    true,
  );
  if (v.help) return { cmd: 'help', topic: 'replay' };
  if (positionals.length !== 1) {
    throw new DaxmonError(
      'DAXMON_E_USAGE',
      `daxmon replay takes one FILE (got ${positionals.length}); "-" reads stdin`,
    );
  }
  if (positionals[0] === '')
    throw new DaxmonError('DAXMON_E_USAGE', 'daxmon replay: FILE is empty; "-" reads stdin');
  return {
    cmd: 'replay',
    file: positionals[0]!,
    options: {
      json: Boolean(v.json),
      strict: Boolean(v.strict),
      failOnViolation: Boolean(v['fail-on-violation']),
      model: oneOf(v, 'model', ['old', 'new'] as const),
      journalDir: v['journal-dir'] as string | undefined,
      checkConfig: checkConfig(v, false),
    },
  };
}

function parseDoctor(argv: string[]): ParsedCommand {
  const { values: v } = parse('doctor', argv, {
    json: { type: 'boolean' },
    model: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (v.help) return { cmd: 'help', topic: 'doctor' };
  const model = oneOf(v, 'model', ['old', 'new'] as const);
  return { cmd: 'doctor', json: Boolean(v.json), ...(model ? { model } : {}) };
}

function parseKconfig(argv: string[]): ParsedCommand {
  const { values: v } = parse('kconfig', argv, {
    scope: { type: 'string' },
    required: { type: 'boolean' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (v.help) return { cmd: 'help', topic: 'kconfig' };
  const scope = oneOf(v, 'scope', ['daxmon', 'pmem', 'lab', 'all'] as const) ?? 'all';
  const out = v.out as string | undefined;
  return {
    cmd: 'kconfig',
    scopes: scope === 'all' ? [...KCONFIG_SCOPES] : [scope],
    requiredOnly: Boolean(v.required),
    ...(out !== undefined ? { out } : {}),
  };
}

/**
 * The command line → what to run. Pure but for reading the hung-task timeout (a default of the
 * live checks): any argv gives a ParsedCommand or a DaxmonError (test/fuzz/cli.fuzz.test.ts).
 */
export function parseCommand(argv: readonly string[]): ParsedCommand {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      return { cmd: 'help', topic: rest[0] ?? 'main' };
    case 'version':
    case '--version':
    case '-V':
      return { cmd: 'version' };
    case 'run':
      return parseRun(rest);
    case 'record':
      return parseRecord(rest);
    case 'replay':
      return parseReplay(rest);
    case 'doctor':
      return parseDoctor(rest);
    case 'pages':
      return parsePages(rest);
    case 'kconfig':
      return parseKconfig(rest);
    case 'lab':
      // The lab parses its own options (src/commands/lab.ts).
      return rest.includes('--help') || rest.includes('-h')
        ? { cmd: 'help', topic: 'lab' }
        : { cmd: 'lab', argv: rest };
    default:
      throw new DaxmonError('DAXMON_E_USAGE', `unknown command "${cmd}"; run "daxmon --help" for the list`);
  }
}

async function run(p: ParsedCommand): Promise<number> {
  switch (p.cmd) {
    case 'help':
      return help(p.topic);
    case 'version':
      process.stdout.write(`daxmon ${VERSION}\n`);
      return 0;
    case 'run': {
      const { runDaemon } = await import('./commands/run.js');
      return runDaemon(p.options);
    }
    case 'record': {
      const { runRecord } = await import('./commands/record.js');
      return runRecord(p.options);
    }
    case 'replay': {
      const { runReplay } = await import('./commands/replay.js');
      return runReplay(p.file, p.options);
    }
    case 'doctor': {
      const { runDoctor } = await import('./commands/doctor.js');
      return runDoctor({ json: p.json, ...(p.model ? { model: p.model } : {}), out: process.stdout });
    }
    case 'kconfig': {
      const { renderKconfigFragment } = await import('./kernel/kconfig-fragment.js');
      const text = renderKconfigFragment({
        scopes: p.scopes,
        needs: p.requiredOnly ? ['required'] : ['required', 'recommended'],
      });
      if (p.out === undefined) process.stdout.write(text);
      else {
        try {
          fs.writeFileSync(p.out, text);
        } catch (err) {
          throw new DaxmonError(
            'DAXMON_E_OUTPUT_WRITE',
            `daxmon kconfig: cannot write ${p.out}: ${(err as Error).message}`,
          );
        }
        process.stderr.write(`daxmon kconfig: wrote ${p.out}\n`);
      }
      return 0;
    }
    case 'pages': {
      const { fetchPages, formatPages } = await import('./commands/pages.js');
      const r = await fetchPages(p.url, p.pgmap, p.query);
      if (!r.ok) {
        process.stderr.write(`daxmon pages: ${r.message}\n`);
        return 1;
      }
      process.stdout.write(p.json ? JSON.stringify(r.body, null, 2) + '\n' : formatPages(r.body));
      return 0;
    }
    case 'lab': {
      const { runLabCli } = await import('./commands/lab.js');
      return runLabCli(p.argv);
    }
  }
}

function help(topic: string): number {
  process.stdout.write((HELP.get(topic) ?? HELP_TEXT.main) + '\n');
  return 0;
}

function readVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    return pkg.version;
  } catch {
    return 'unknown';
  }
}

export async function main(argv: string[]): Promise<number> {
  return run(parseCommand(argv));
}

/**
 * The top-level error path: a DaxmonError of any area (usage, kernel, backend, VM lab…) is the
 * user's to act on and prints as `daxmon: CODE: message`, once, without a stack, exiting with
 * its status; anything else is a bug, printed with its stack, exit 70 (EX_SOFTWARE).
 */
export function reportError(err: unknown, write: (text: string) => void): number {
  if (isDaxmonError(err)) {
    write(`daxmon: ${err.code}: ${err.message}\n`);
    return err.exitCode;
  }
  write(
    `daxmon: internal error (a bug; please report it):\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  return 70;
}

const invokedDirectly =
  process.argv[1] !== undefined &&
  fs.realpathSync(process.argv[1]) === fs.realpathSync(new URL(import.meta.url).pathname);
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.exitCode = reportError(err, (text) => process.stderr.write(text));
    },
  );
}
