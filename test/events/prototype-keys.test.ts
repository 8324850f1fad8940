/**
 * Every lookup in src/ keyed by a string that comes from input, walked with the names of
 * Object.prototype's properties (issue 13, item 1): an event `type` of `constructor` crashed
 * replay with exit 70. The lookups, and what keys them:
 *   event type             src/events/schema.ts validateEvent (SPEC_BY_TYPE)
 *   event field names      src/events/schema.ts validateEvent (own keys only)
 *   header keys            src/events/ndjson.ts, src/events/binary.ts
 *   probe names            probe_status events → src/state/state.ts (Map), src/checks/engine.ts
 *   bpftrace line tags     src/probes/bpftrace/decode.ts (FIELDS_BY_TAG)
 *   help topics, commands  src/cli.ts (HELP, main), option names and values (parseArgs, oneOf)
 *   error codes            src/errors/catalogue.ts isErrorCode, exitCodeOf; log-fields codeIn
 * (HTTP query parameters and header keys, src/server/*, are walked by the HTTP suite.)
 */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli.js';
import { runReplay } from '../../src/commands/replay.js';
import { DaxmonError, codeIn, exitCodeOf, isErrorCode, type ErrorCode } from '../../src/errors.js';
import { encodeHeader } from '../../src/events/ndjson.js';
import { validateEvent } from '../../src/events/schema.js';
import type { DaxEvent } from '../../src/events/types.js';
import type { BackendLog } from '../../src/probes/backend.js';
import { BpftraceDecoder } from '../../src/probes/bpftrace/decode.js';
import { replay } from '../../src/replay.js';
import { corpus } from '../fuzz/budget.js';

export const PROTO_NAMES = [
  'constructor',
  '__proto__',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toLocaleString',
  '__defineGetter__',
  '__lookupGetter__',
] as const;

const HEADER = encodeHeader({ created: '2026-12-03T00:00:00Z', kernel: { release: '7.3.4', model: 'new' } });
const IDLE = { type: 'folio_idle', t: 1, pid: 1, comm: 'c', pfn: 0x140000, order: 0, refcount: 1 };

function sink(): { out: Writable; text: () => string } {
  let text = '';
  return {
    out: new Writable({
      write(c: Buffer, _e, cb) {
        text += c.toString();
        cb();
      },
    }),
    text: () => text,
  };
}

async function replayText(text: string): Promise<{ code: number; err: string }> {
  const file = Buffer.from(text);
  const err = sink();
  const out = sink();
  // runReplay takes a path; a Buffer goes through replay() itself, the command's engine.
  const r = await replay(file);
  expect(r.errors.every((e) => typeof e.message === 'string')).toBe(true);
  const code = await runReplay('-', {
    json: false,
    strict: false,
    failOnViolation: false,
    checkConfig: {},
    out: out.out,
    err: err.out,
    input: file,
  });
  return { code, err: err.text() };
}

afterEach(() => vi.restoreAllMocks());

describe('lookups keyed by input are own-key lookups', () => {
  it.each(PROTO_NAMES)('event type %s is an unknown type, not a crash', (name) => {
    expect(validateEvent({ ...IDLE, type: name })).toEqual({
      ok: false,
      error: `unknown event type ${JSON.stringify(name)}`,
    });
  });

  it.each(PROTO_NAMES)('a field named %s is an unknown field', (name) => {
    const e = JSON.parse(JSON.stringify(IDLE).replace(/}$/, `,${JSON.stringify(name)}:1}`)) as unknown;
    expect(validateEvent(e)).toEqual({ ok: false, error: `folio_idle: unknown field ${name}` });
  });

  it.each(PROTO_NAMES)(
    'replay of a stream with type %s: the line is reported, exit 3 (was 70)',
    async (name) => {
      const r = await replayText(
        HEADER + JSON.stringify({ ...IDLE, type: name }) + '\n' + JSON.stringify(IDLE) + '\n',
      );
      expect(r.code).toBe(3);
      expect(r.err).toBe(`daxmon replay: -:2: unknown event type ${JSON.stringify(name)}\n`);
    },
  );

  it('header keys and probe names of Object.prototype are data like any other', async () => {
    for (const name of PROTO_NAMES) {
      const header = HEADER.replace(/}\n$/, `,${JSON.stringify(name)}:{"schema":2}}\n`);
      const status = {
        type: 'probe_status',
        t: 1,
        pid: 1,
        comm: 'c',
        backend: 'libbpf',
        probe: name,
        attached: name.length % 2 === 0,
        detail: 'x',
      };
      const r = await replay(
        Buffer.from(header + JSON.stringify(status) + '\n' + JSON.stringify(IDLE) + '\n'),
      );
      expect(r.errors).toEqual([]);
      expect(r.events).toBe(2);
      expect(r.pipeline.state.probes.get(`libbpf:${name}`)).toMatchObject({ probe: name });
      expect(r.pipeline.engine.activity().length).toBeGreaterThan(0);
    }
  });

  it('the kept recording corpus replays without a crash: every prototype-name file exits 3 or 0', async () => {
    const files = corpus('recording').filter((f) => f.name.startsWith('proto-key-'));
    expect(files.length).toBeGreaterThanOrEqual(8);
    for (const f of files) {
      const r = await replayText(f.bytes.toString('utf8'));
      expect([0, 3], f.name).toContain(r.code);
    }
  });

  it.each(PROTO_NAMES)('a bpftrace line tagged %s is a malformed line, logged and skipped', (name) => {
    const warned: string[] = [];
    const note = (m: string, f?: Record<string, unknown>) => warned.push(`${m} ${JSON.stringify(f)}`);
    const log: BackendLog = { debug() {}, info() {}, warn: note, error: note };
    const d = new BpftraceDecoder({ log, included: [], sleepsKnown: true });
    const events: DaxEvent[] = [];
    d.push(Buffer.from(`${name}\t1000\t42\t1\t2\t3\t4\t5\t6\tcomm\n`), (e) => events.push(e));
    d.end((e) => events.push(e));
    expect(events).toEqual([]);
    expect(warned.join('\n')).toContain('unknown tag');
  });

  it.each(PROTO_NAMES)('error code lookups: %s is no code', (name) => {
    expect(isErrorCode(name)).toBe(false);
    expect(exitCodeOf(name as ErrorCode)).toBe(2);
    expect(codeIn(name)).toBeUndefined();
  });

  it.each(PROTO_NAMES)('the CLI: help topic, command, option and option value %s', async (name) => {
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
      out.push(String(s));
      return true;
    });
    // An unknown help topic is the main help, as any unknown topic is.
    expect(await main(['help', name])).toBe(0);
    expect(out.join('')).toMatch(/^daxmon \S+ — live monitor/);
    await expect(main([name])).rejects.toMatchObject({ code: 'DAXMON_E_USAGE' });
    for (const cmd of ['run', 'record', 'replay', 'doctor', 'pages'])
      await expect(main([cmd, `--${name}`, 'x'])).rejects.toMatchObject({ code: 'DAXMON_E_USAGE' });
    for (const opt of ['--backend', '--model', '--fsync', '--log-level', '--record-format'])
      await expect(main(['run', opt, name])).rejects.toBeInstanceOf(DaxmonError);
  });
});
