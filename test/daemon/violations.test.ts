/**
 * Where a raised violation goes: the journal first, then the store behind the API, the metrics
 * and the log; a journal that fails loses the violation from none of the others.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { violationSink, type ViolationRecords } from '../../src/daemon/violations.js';
import type { Journal } from '../../src/violations/journal.js';
import { ViolationStore } from '../../src/violations/store.js';
import type { Violation, ViolationUpdate } from '../../src/violations/violation.js';
import { violation } from '../violations/violation-fixture.js';

interface Harness {
  sink: ReturnType<typeof violationSink>;
  store: ViolationStore;
  /** What each stage saw, in the order it saw it. */
  seen: string[];
  log: { level: number; msg: string; violation?: string; err?: string }[];
}

function harness(journal: ((v: Violation, u: ViolationUpdate) => void) | null): Harness {
  const seen: string[] = [];
  const log: Harness['log'] = [];
  const store = new ViolationStore();
  const records: ViolationRecords = {
    journal: journal
      ? ({
          write: (v: Violation, u: ViolationUpdate) => {
            seen.push(`journal ${u} ${v.id} (store has ${store.get(v.id) ? 'it' : 'nothing'})`);
            journal(v, u);
          },
        } as unknown as Journal)
      : null,
    store,
    firstId: 1,
  };
  const logger = pino(
    { level: 'info' },
    {
      write: (s: string) => {
        const l = JSON.parse(s) as Harness['log'][number];
        seen.push(`log ${l.msg}`);
        log.push(l);
      },
    },
  );
  const counter = {
    violation: (v: Violation) =>
      seen.push(`metrics ${v.id} (store has ${store.get(v.id) ? 'it' : 'nothing'})`),
  };
  return { sink: violationSink(records, counter, logger), store, seen, log };
}

describe('the violation sink', () => {
  it('journals a new violation before the store, the metrics and the log see it', () => {
    const h = harness(() => undefined);
    const v = violation(1);
    h.sink.violation(v, 'new');
    expect(h.seen).toEqual([
      'journal new v1 (store has nothing)',
      'metrics v1 (store has it)',
      `log map_zero_ref: ${v.message}`,
    ]);
    expect(h.log[0]).toMatchObject({ level: 50, violation: 'v1', pfn: v.pfn, pgmap: 'pm0', comm: 'writer' });
  });

  it('counts and logs only new violations: repeats and clears are journaled, a clear is logged', () => {
    const h = harness(() => undefined);
    const v = violation(2, { severity: 'warning' });
    h.sink.violation(v, 'new');
    // The engine updates the one shared record in place, as the store expects.
    v.count = 2;
    h.sink.violation(v, 'repeat');
    v.clearedT = 5;
    h.sink.violation(v, 'cleared');
    expect(h.seen.filter((s) => s.startsWith('journal')).map((s) => s.split(' ')[1])).toEqual([
      'new',
      'repeat',
      'cleared',
    ]);
    expect(h.seen.filter((s) => s.startsWith('metrics'))).toEqual(['metrics v2 (store has it)']);
    expect(h.log.map((l) => [l.level, l.msg])).toEqual([
      [40, `map_zero_ref: ${v.message}`],
      [30, 'map_zero_ref cleared'],
    ]);
  });

  it('a journal write that fails is logged, and the violation still reaches the API, the metrics and the log', () => {
    const h = harness(() => {
      throw new Error('ENOSPC: no space left on device');
    });
    h.sink.violation(violation(3), 'new');
    expect(h.log[0]).toMatchObject({
      level: 50,
      msg: 'violation journal write failed',
      err: 'ENOSPC: no space left on device',
    });
    expect(h.store.get('v3')).toBeDefined();
    expect(h.seen.some((s) => s.startsWith('metrics v3'))).toBe(true);
    expect(h.log.at(-1)).toMatchObject({ violation: 'v3' });
  });

  it('without a journal (--no-journal) the others still get every violation', () => {
    const h = harness(null);
    h.sink.violation(violation(4), 'new');
    expect(h.store.get('v4')).toBeDefined();
    expect(h.seen.map((s) => s.split(' ')[0])).toEqual(['metrics', 'log']);
  });
});
