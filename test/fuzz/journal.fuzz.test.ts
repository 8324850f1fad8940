/**
 * Fuzz target: the journal reader (src/violations/journal-format.ts, behind readJournal). Arbitrary
 * bytes, truncations and bit flips of valid journals: never a crash, never a reused id, and every
 * damaged record counted — a single flipped bit is always caught by the record's CRC32C, and the
 * count of damaged records is exactly the number of records lost.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  encodeRecord,
  idNumber,
  lineFor,
  parseJournal,
  type JournalRecord,
} from '../../src/violations/journal-format.js';
import type { Violation } from '../../src/violations/violation.js';
import { violation } from '../violations/violation-fixture.js';
import { corpus, fuzz } from './budget.js';

const figures = {
  twoWriters: 0,
  deep: 0,
  cases: 0,
  flipCases: 0,
  damagedDetected: 0,
  truncations: 0,
  arbitrary: 0,
  corpus: 0,
};
afterAll(() => {
  console.log(
    `journal fuzz: ${figures.cases} cases (${figures.arbitrary} arbitrary, ${figures.truncations} truncations, ` +
      `${figures.flipCases} bit-flip cases, ${figures.twoWriters} two-writer cases, ${figures.deep} deep-record cases, ` +
      `${figures.corpus} corpus files); ${figures.damagedDetected} damaged records detected`,
  );
});

interface Built {
  files: Buffer[];
  /** Records in all files, in order. */
  records: number;
  /** Per file: [start, end) byte offsets of each record line (newline included) and its ids. */
  spans: { start: number; end: number; ids: number[] }[][];
  maxId: number;
}

/** A valid v2 journal: n violations with repeats and clears, over 1–3 files (rotation headers). */
const journalArb = fc
  .record({
    ops: fc.array(fc.constantFrom<'new' | 'repeat' | 'cleared'>('new', 'new', 'repeat', 'cleared'), {
      minLength: 1,
      maxLength: 30,
    }),
    text: fc.string({ maxLength: 40, unit: 'binary' }),
    firstId: fc.integer({ min: 1, max: 5000 }),
    files: fc.integer({ min: 1, max: 3 }),
  })
  .map(({ ops, text, firstId, files }): Built => {
    let seq = 1;
    let id = firstId - 1;
    let news = firstId - 1;
    const out: { lines: string[]; ids: number[][] }[] = [];
    const perFile = Math.ceil(ops.length / files);
    ops.forEach((op, i) => {
      if (i % perFile === 0) {
        const f = { lines: [] as string[], ids: [] as number[][] };
        if (out.length > 0 || firstId > 1) {
          f.lines.push(encodeRecord(seq++, { op: 'file', newBefore: news }));
          f.ids.push([]);
        }
        out.push(f);
      }
      const f = out.at(-1)!;
      let rec: JournalRecord;
      if (op === 'new' || id < firstId) {
        id++;
        news++;
        rec = { op: 'new', v: violation(id, { message: `m${text}` }) };
      } else if (op === 'repeat') rec = { op: 'repeat', id: `v${id}`, count: i + 2, lastT: i };
      else rec = { op: 'cleared', id: `v${id}`, clearedT: i };
      f.lines.push(encodeRecord(seq++, rec));
      f.ids.push(rec.op === 'new' ? [id] : []);
    });
    const spans = out.map((f) => {
      let at = 0;
      return f.lines.map((l, k) => {
        const len = Buffer.byteLength(l);
        const s = { start: at, end: at + len, ids: f.ids[k]! };
        at += len;
        return s;
      });
    });
    return {
      files: out.map((f) => Buffer.from(f.lines.join(''), 'utf8')),
      records: out.reduce((a, f) => a + f.lines.length, 0),
      spans,
      maxId: id,
    };
  });

const read = (files: readonly Buffer[]) => parseJournal(files.map((b) => ({ text: b.toString('utf8') })));

function idsOf(vs: readonly Violation[]): number[] {
  return vs.map((v) => idNumber(v.id)).filter((n): n is number => n !== null);
}

/** What every load must satisfy, whatever the input. */
function sane(load: ReturnType<typeof read>): void {
  expect(Number.isSafeInteger(load.nextId) && load.nextId >= 1).toBe(true);
  expect(Number.isSafeInteger(load.nextSeq) && load.nextSeq >= 1).toBe(true);
  expect(Number.isInteger(load.damagedRecords) && load.damagedRecords >= 0).toBe(true);
  for (const n of idsOf(load.violations)) expect(load.nextId).toBeGreaterThan(n);
}

describe('journal reader fuzz', () => {
  it('replays the kept corpus (test/fuzz/corpus/journal/)', () => {
    for (const c of corpus('journal')) {
      const load = read([c.bytes]);
      sane(load);
      figures.corpus++;
      figures.cases++;
      // Every kept file is damaged on purpose: the damage must be reported, and no id it still
      // names handed out again.
      expect(load.damagedRecords + (load.tornTail ? 1 : 0), c.name).toBeGreaterThan(0);
      for (const m of c.bytes.toString('utf8').matchAll(/"id":"v(\d{1,15})"/g))
        expect(load.nextId, c.name).toBeGreaterThan(Number(m[1]));
    }
  });

  it('arbitrary bytes and lines never crash it, and the next id is above every id it serves', () => {
    const line = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.json(),
      fc.constantFrom(
        '{"j":1,"op":"new","v":{"id":"v7"}}',
        '{"j":2,"s":1,"op":"file","newBefore":3}',
        '{"j":',
      ),
      journalArb.map((b) => b.files[0]!.toString('utf8').split('\n')[0]!),
    );
    const file = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      fc.array(line, { maxLength: 8 }).map((ls) => Buffer.from(ls.join('\n'), 'utf8')),
    );
    fuzz(
      fc.property(fc.array(file, { maxLength: 3 }), (files) => {
        figures.arbitrary++;
        figures.cases++;
        sane(read(files));
      }),
    );
  });

  it('a truncated newest file: a torn tail, no damage, the complete records kept, no id reused', () => {
    fuzz(
      fc.property(journalArb, fc.double({ min: 0, max: 1, noNaN: true }), (b, frac) => {
        figures.truncations++;
        figures.cases++;
        const last = b.files.length - 1;
        const len = Math.floor(b.files[last]!.length * frac);
        const files = [...b.files.slice(0, last), b.files[last]!.subarray(0, len)];
        const load = read(files);
        sane(load);
        const spans = b.spans[last]!;
        // Complete: whole lines, or a line cut just before its newline.
        const complete = spans.filter((s) => s.end <= len || s.end - 1 === len).length;
        const cut = spans.some((s) => s.start < len && s.end - 1 > len);
        const earlier = b.spans.slice(0, last).reduce((a, f) => a + f.length, 0);
        expect(load.damagedRecords).toBe(0);
        expect(load.records).toBe(earlier + complete);
        expect(load.tornTail).toBe(cut);
        // Every id whose record began before the cut stays reserved.
        const started = [...b.spans.slice(0, last).flat(), ...spans.filter((s) => s.start < len)];
        for (const s of started) for (const id of s.ids) expect(load.nextId).toBeGreaterThan(id);
      }),
    );
  });

  it('one flipped bit anywhere is caught: exactly the records lost are counted damaged, and no id is reused', () => {
    fuzz(
      fc.property(journalArb, fc.nat(), fc.integer({ min: 0, max: 7 }), (b, pos, bit) => {
        const sizes = b.files.map((f) => f.length);
        let at = pos % sizes.reduce((a, n) => a + n, 0);
        let fi = 0;
        while (at >= sizes[fi]!) at -= sizes[fi++]!;
        const files = b.files.map((f) => Buffer.from(f));
        files[fi]![at] = files[fi]![at]! ^ (1 << bit);
        const load = read(files);
        sane(load);
        figures.flipCases++;
        figures.cases++;
        figures.damagedDetected += load.damagedRecords;
        expect(load.tornTail).toBe(false);
        expect(load.damagedRecords).toBeGreaterThanOrEqual(1);
        expect(load.records + load.damagedRecords).toBe(b.records);
        expect(load.nextId).toBeGreaterThan(b.maxId);
        // Appending after the damage (the next start) keeps the count and the new record good.
        const tail = load.endsWithNewline ? '' : '\n';
        const next = encodeRecord(load.nextSeq, { op: 'new', v: violation(load.nextId) });
        files[files.length - 1] = Buffer.concat([files.at(-1)!, Buffer.from(tail + next)]);
        const again = read(files);
        expect(again.damagedRecords).toBe(load.damagedRecords);
        expect(again.violations.at(-1)!.id).toBe(`v${load.nextId}`);
        expect(again.nextId).toBe(load.nextId + 1);
      }),
    );
  });

  it('several flipped bits: always detected, never a crash, no id reused that any byte still names', () => {
    fuzz(
      fc.property(
        journalArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 2, maxLength: 6 }),
        (b, flips) => {
          const files = b.files.map((f) => Buffer.from(f));
          for (const [pos, bit] of flips) {
            const f = files[pos % files.length]!;
            f[pos % f.length] = f[pos % f.length]! ^ (1 << bit);
          }
          figures.flipCases++;
          figures.cases++;
          if (files.every((f, i) => f.equals(b.files[i]!))) return; // the flips cancelled out
          const load = read(files);
          sane(load);
          figures.damagedDetected += load.damagedRecords;
          expect(load.damagedRecords + (load.tornTail ? 1 : 0)).toBeGreaterThanOrEqual(1);
          expect(load.records).toBeLessThan(b.records);
          // Several flips can erase every trace of an id (its record, its digits and the rotation
          // header's count); any id a surviving byte still names stays reserved.
          const named = files.flatMap((f) =>
            [...f.toString('utf8').matchAll(/"id":"v(\d{1,15})"/g)].map((m) => Number(m[1])),
          );
          for (const n of named) expect(load.nextId, `v${n} is still named`).toBeGreaterThan(n);
        },
      ),
    );
  });

  it('two writers on one directory: every repeated sequence number or id is counted damaged, none is served twice', () => {
    fuzz(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.boolean(), { minLength: 16, maxLength: 16 }),
        fc.integer({ min: 1, max: 5000 }),
        (na, nb, schedule, first) => {
          figures.twoWriters++;
          figures.cases++;
          // Both opened the same journal: both number from `first` and hand out v<first>…
          const writer = (n: number, who: string) =>
            Array.from({ length: n }, (_, k) => ({
              seq: first + k,
              line: encodeRecord(first + k, { op: 'new', v: violation(first + k, { comm: who }) }),
            }));
          const a = writer(na, 'a');
          const b = writer(nb, 'b');
          const order: { seq: number; line: string }[] = [];
          for (const takeA of schedule) {
            const q = (takeA && a.length) || !b.length ? a : b;
            if (q.length) order.push(q.shift()!);
          }
          order.push(...a, ...b);
          let max = 0;
          let dup = 0;
          for (const r of order) {
            if (r.seq <= max) dup++;
            max = Math.max(max, r.seq);
          }
          const load = read([Buffer.from(order.map((r) => r.line).join(''), 'utf8')]);
          sane(load);
          expect(load.damagedRecords).toBe(dup);
          expect(dup).toBeGreaterThanOrEqual(Math.min(na, nb));
          expect(load.violations.length).toBe(na + nb - dup);
          expect(new Set(load.violations.map((v) => v.id)).size).toBe(load.violations.length);
          expect(load.nextId).toBeGreaterThan(first + Math.max(na, nb) - 1);
        },
      ),
    );
  });

  it('a violation nested too deep (or of the wrong shape) is damaged, and the rest is served', () => {
    fuzz(
      fc.property(fc.integer({ min: 33, max: 9000 }), fc.integer({ min: 1, max: 3 }), (depth, at) => {
        figures.deep++;
        figures.cases++;
        const lines = [1, 2, 3, 4].map((n) =>
          n === at + 1
            ? lineFor(
                n,
                JSON.stringify({ op: 'new', v: violation(n, { details: { x: 1 } }) }).replace(
                  '{"x":1}',
                  '{"d":'.repeat(depth) + '{}' + '}'.repeat(depth),
                ),
              )
            : encodeRecord(n, { op: 'new', v: violation(n) }),
        );
        const load = read([Buffer.from(lines.join(''), 'utf8')]);
        sane(load);
        expect(load.damagedRecords).toBe(1);
        expect(load.violations.map((v) => v.id)).toEqual(['v1', 'v2', 'v3', 'v4'].filter((_, i) => i !== at));
        expect(load.nextId).toBe(5);
      }),
    );
  });
});
