/**
 * Fuzzing the command line (src/cli.ts parseCommand, the options of src/daemon/options.ts;
 * issue 13): any argv gives either a parsed command or a DaxmonError with a catalogued code,
 * never another exception, and what parses holds together (a port is a port, a duration a
 * finite number, a journal directory a non-empty path or none). Every argv kept in
 * test/fuzz/corpus/cli/ (a JSON array of strings per file) is parsed first, and a `help` one is
 * run, since help printed Object's source for `daxmon help constructor`.
 */
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { main, parseCommand, type ParsedCommand } from '../../src/cli.js';
import { isDaxmonError, isErrorCode } from '../../src/errors.js';
import { corpus, fuzz } from './budget.js';

const runs = { runs: 0 };
afterAll(() => console.log(`cli fuzz: ${runs.runs} cases run`));
afterEach(() => vi.restoreAllMocks());

/** parseCommand(argv), or the DaxmonError it threw; any other exception fails the property. */
function parsed(argv: string[]): ParsedCommand | null {
  try {
    return parseCommand(argv);
  } catch (err) {
    if (isDaxmonError(err) && isErrorCode(err.code)) {
      expect(err.exitCode).toBe(2);
      return null;
    }
    throw err;
  }
}

/** What a parsed command promises the code that runs it. */
function holdsTogether(p: ParsedCommand): void {
  if (p.cmd === 'run' || p.cmd === 'record') {
    const o = p.options;
    if (o.listen) {
      expect(Number.isInteger(o.listen.port) && o.listen.port >= 0 && o.listen.port <= 65535).toBe(true);
      expect(o.listen.host.length).toBeGreaterThan(0);
    }
    if (o.durationSeconds !== undefined)
      expect(Number.isFinite(o.durationSeconds) && o.durationSeconds >= 0).toBe(true);
    if (o.journalDir !== null) expect(o.journalDir.length).toBeGreaterThan(0);
    if (o.recordPath !== undefined) expect(o.recordPath.length).toBeGreaterThan(0);
    if (o.apiTokenFile !== undefined) expect(o.apiTokenFile.length).toBeGreaterThan(0);
    if (o.maxFolios !== undefined) expect(o.maxFolios >= 1 && Number.isFinite(o.maxFolios)).toBe(true);
    for (const v of Object.values(o.checkConfig)) expect(Number.isFinite(v) && v >= 0).toBe(true);
    expect(['auto', 'libbpf', 'bpftrace', 'none']).toContain(o.backend);
  }
  if (p.cmd === 'replay') {
    expect(p.file.length).toBeGreaterThan(0);
    if (p.options.journalDir !== undefined) expect(p.options.journalDir.length).toBeGreaterThan(0);
  }
  if (p.cmd === 'record') expect(p.options.out.length > 0 && p.options.out !== '-').toBe(true);
}

const COMMANDS = [
  'run',
  'record',
  'replay',
  'doctor',
  'pages',
  'help',
  'version',
  '--help',
  '-h',
  '-V',
  'lab',
];
const FLAGS = [
  '--listen',
  '--backend',
  '--strict',
  '--model',
  '--journal-dir',
  '--no-journal',
  '--fsync',
  '--record',
  '--record-format',
  '--api-token-file',
  '--max-folios',
  '--duration',
  '--log-level',
  '--scan-interval-seconds',
  '--scan-pages-per-second',
  '--idle-mismatch-seconds',
  '--busy-wait-warn-seconds',
  '--busy-wait-stuck-seconds',
  '--teardown-release-warn-seconds',
  '--out',
  '--json',
  '--fail-on-violation',
  '--from',
  '--count',
  '--url',
  '--help',
  '-h',
  '--',
  '-',
];
const VALUES = [
  '',
  ' ',
  '-',
  '0',
  '-1',
  '1',
  '1e400',
  '-0',
  '0x10',
  'NaN',
  'Infinity',
  '2500000',
  '9'.repeat(40),
  '127.0.0.1:0',
  '[::1]:9464',
  ':',
  'host:99999',
  'old',
  'new',
  'auto',
  'libbpf',
  'none',
  'always',
  'binary',
  'ndjson',
  'debug',
  '/tmp/x.dxb',
  'x.ndjson',
  'pm0',
  'constructor',
  '__proto__',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'isPrototypeOf',
  '--journal-dir=',
  '--duration=1',
  '--listen=',
  '-hx',
];
const token = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...FLAGS) },
  { weight: 3, arbitrary: fc.constantFrom(...VALUES) },
  { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom(...FLAGS).map((f) => `${f}=`) },
);
const argv = fc
  .tuple(fc.constantFrom(...COMMANDS), fc.array(token, { maxLength: 10 }))
  .map(([c, rest]) => [c, ...rest]);

describe('the kept corpus', () => {
  const files = corpus('cli');
  it('is not empty', () => expect(files.length).toBeGreaterThan(0));
  it.each(files.map((f) => [f.name, JSON.parse(f.bytes.toString('utf8')) as string[]] as const))(
    '%s parses or is a usage error; help prints help',
    async (_name, args) => {
      const p = parsed(args);
      if (p) holdsTogether(p);
      if (p?.cmd !== 'help') return;
      let out = '';
      vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
        out += String(s);
        return true;
      });
      expect(await main(args)).toBe(0);
      expect(out).toMatch(/^(daxmon \S+ — live monitor|Usage: daxmon )/);
    },
  );
});

describe('the command line, fuzzed', () => {
  it('arbitrary argv: a parsed command that holds together, or a catalogued DaxmonError', () => {
    fuzz(
      fc.property(argv, (args) => {
        const p = parsed(args);
        if (p) holdsTogether(p);
      }),
      runs,
    );
  });

  it('entirely arbitrary strings too', () => {
    fuzz(
      fc.property(fc.array(fc.string({ maxLength: 12 }), { maxLength: 8 }), (args) => {
        const p = parsed(args);
        if (p) holdsTogether(p);
      }),
      runs,
    );
  });
});
