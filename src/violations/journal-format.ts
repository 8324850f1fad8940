/**
 * The journal's on-disk format and its reader, as pure functions over file contents (the I/O is
 * in journal.ts), so that the fuzz suite can feed it any bytes.
 *
 * One record per line. Version 2 (written since issue 13) is a JSON object with a sequence number
 * `s` (one per record, increasing across files and restarts) and, as its last member, `c`: the
 * CRC32C of the line without that member, as 8 hex digits:
 *   {"j":2,"s":41,"op":"new","v":{…Violation…},"c":"1f0c3a9e"}
 *   {"j":2,"s":42,"op":"repeat","id":"v7","count":12,"lastT":…,"c":"…"}
 *   {"j":2,"s":43,"op":"cleared","id":"v7","clearedT":…,"c":"…"}
 *   {"j":2,"s":44,"op":"file","newBefore":9000,"c":"…"}   first record of a rotated-to file
 * Version 1 lines (`"j":1`, no `s`, no `c`) are still read: the version marker `j` tells them
 * apart, and a line that says `"j":2` without a valid checksum is damaged, never taken for v1.
 *
 * Damage is counted in records, not lines: between two good v2 records the gap in `s` says how
 * many records are missing (a flipped newline merges two records into one bad line, a bit that
 * becomes a newline splits one record into two); elsewhere each run of bad lines counts the record
 * starts (`{"j":`) in it, at least one. An unterminated last line is a torn write (a crash
 * mid-append), reported apart, unless it holds a complete checksum (then it is damage).
 */
import { crc32cHex } from './crc32c.js';
import type { Violation } from './violation.js';

export type JournalRecord =
  | { op: 'new'; v: Violation }
  | { op: 'repeat'; id: string; count: number; lastT: number }
  | { op: 'cleared'; id: string; clearedT: number | null }
  /** The first record of a file opened by rotation: how many 'new' records all earlier files held. */
  | { op: 'file'; newBefore: number }
  /** Records dropped from a full backlog (never written), `newRecords` of them 'new': written when the disk came back. */
  | { op: 'lost'; records: number; newRecords: number };

/** A record line longer than this is damage (a violation record is a few KiB). */
export const MAX_RECORD_CHARS = 1 << 20;
/** Objects and arrays nested deeper than this in a violation are damage: the API walks them recursively. */
export const MAX_VIOLATION_DEPTH = 32;

export const JOURNAL_VERSION = 2;
const LEGACY_VERSION = 1;
const CRC_TAIL = /,"c":"([0-9a-f]{8})"\}$/;
const HAS_CRC = /,"c":"[0-9a-f]{8}"\}/;
const RECORD_START = /\{"j":/g;
/** Ids seen in damaged text, to keep them reserved; 15 digits keep the sum a safe integer. */
const ID_IN_TEXT = /"id":"v(\d{1,15})"/g;
const NEW_BEFORE_IN_TEXT = /"newBefore":(\d{1,15})/g;

/** One line, newline included. */
export function encodeRecord(seq: number, rec: JournalRecord): string {
  return lineFor(seq, JSON.stringify(rec));
}

/**
 * The line for a record already serialised (`JSON.stringify(rec)`): the journal serialises when a
 * record is raised and numbers it when it reaches the disk, so the numbers follow the file order.
 */
export function lineFor(seq: number, json: string): string {
  const body = `{"j":${JOURNAL_VERSION},"s":${seq},${json.slice(1)}`;
  return `${body.slice(0, -1)},"c":"${crc32cHex(body)}"}\n`;
}

type Parsed = { ok: true; seq: number | null; rec: JournalRecord } | { ok: false };

/** A line (no newline) as a record, or not: checksum first, then shape. */
export function parseRecord(line: string): Parsed {
  if (line.length > MAX_RECORD_CHARS) return { ok: false };
  const m = CRC_TAIL.exec(line);
  let o: unknown;
  if (m) {
    const body = line.slice(0, m.index) + '}';
    if (crc32cHex(body) !== m[1]) return { ok: false };
    o = tryJson(body);
    if (!isObj(o) || o.j !== JOURNAL_VERSION || !Number.isSafeInteger(o.s) || (o.s as number) < 1)
      return { ok: false };
  } else {
    o = tryJson(line);
    // Only a v1 line may lack the checksum.
    if (!isObj(o) || o.j !== LEGACY_VERSION) return { ok: false };
  }
  const rec = recordOf(o);
  return rec ? { ok: true, seq: o.j === JOURNAL_VERSION ? (o.s as number) : null, rec } : { ok: false };
}

function recordOf(o: Record<string, unknown>): JournalRecord | null {
  switch (o.op) {
    case 'new':
      return isViolation(o.v) ? { op: 'new', v: o.v } : null;
    case 'repeat':
      return typeof o.id === 'string' && typeof o.count === 'number'
        ? { op: 'repeat', id: o.id, count: o.count, lastT: typeof o.lastT === 'number' ? o.lastT : NaN }
        : null;
    case 'cleared':
      return typeof o.id === 'string' && (typeof o.clearedT === 'number' || o.clearedT === null)
        ? { op: 'cleared', id: o.id, clearedT: o.clearedT }
        : null;
    case 'file':
      return o.j === JOURNAL_VERSION && Number.isSafeInteger(o.newBefore) && (o.newBefore as number) >= 0
        ? { op: 'file', newBefore: o.newBefore as number }
        : null;
    case 'lost':
      return o.j === JOURNAL_VERSION && isCount(o.records) && isCount(o.newRecords)
        ? { op: 'lost', records: o.records as number, newRecords: o.newRecords as number }
        : null;
    default:
      return null;
  }
}

function isCount(x: unknown): boolean {
  return Number.isSafeInteger(x) && (x as number) >= 0;
}

const num = (x: unknown): boolean => typeof x === 'number';
const str = (x: unknown): boolean => typeof x === 'string';
const numOrNull = (x: unknown): boolean => x === null || typeof x === 'number';

/**
 * Whether `v` has the shape the store and the API rely on (src/violations/violation.ts), nested at
 * most MAX_VIOLATION_DEPTH deep. A record that fails is damage: served, it could make every
 * /api/violations answer fail (a recursive walk of 8,000 nested objects overflows the stack).
 */
export function isViolation(v: unknown): v is Violation {
  if (!isObj(v) || !withinDepth(v, MAX_VIOLATION_DEPTH)) return false;
  if (typeof v.id !== 'string' || idNumber(v.id) === null) return false;
  if (!str(v.kind) || (v.severity !== 'warning' && v.severity !== 'error')) return false;
  if (!str(v.invariant) || !num(v.t) || !str(v.time) || !str(v.message)) return false;
  if (!numOrNull(v.pfn) || !numOrNull(v.order) || !num(v.pid) || !str(v.comm)) return false;
  if (!num(v.count) || !num(v.lastT) || !numOrNull(v.clearedT)) return false;
  if (!isObj(v.observed) || !isObj(v.expected)) return false;
  if (v.pgmap !== null && !(isObj(v.pgmap) && str(v.pgmap.id) && str(v.pgmap.type))) return false;
  if (v.stack !== null && !(Array.isArray(v.stack) && v.stack.every(str))) return false;
  if (!isObj(v.kernel) || !str(v.kernel.release) || !str(v.kernel.model)) return false;
  if (!Array.isArray(v.recentEvents) || !v.recentEvents.every(isObj)) return false;
  if (v.details !== undefined && !isObj(v.details)) return false;
  return true;
}

/** Whether no object or array in `x` is nested deeper than `max` (recursion bounded by `max`). */
function withinDepth(x: unknown, max: number): boolean {
  if (typeof x !== 'object' || x === null) return true;
  if (max <= 0) return false;
  for (const y of Object.values(x)) if (!withinDepth(y, max - 1)) return false;
  return true;
}

export interface JournalLoad {
  violations: Violation[];
  /** Good records read (of every op). */
  records: number;
  /** Records lost to damage (bad checksum, bad JSON, bad shape), not counting a torn last line. */
  damagedRecords: number;
  /** The lines those records occupied (a split record is two lines, two merged records one). */
  corruptLines: number;
  /** Records the sequence numbers say were written but are not there, with no damaged line. */
  missingRecords: number;
  /** Records daxmon dropped from a full backlog while the disk refused writes (its `lost` records). */
  lostRecords: number;
  tornTail: boolean;
  /** Good version-1 records (no checksum). */
  legacyRecords: number;
  files: number;
  /** 'new' records in journal files deleted by rotation (from the first file's header, else estimated from the ids). */
  rotatedOut: number;
  /** 'new' records ever journaled: rotated out and in the files. */
  newRecords: number;
  /**
   * The next violation id: above every id seen in any line, good, damaged or torn, and at least one
   * per damaged line or torn record after the newest good 'new' record (a flip can hide an id).
   */
  nextId: number;
  /** The next sequence number (one reserved per damaged record at the end). */
  nextSeq: number;
  /** False when the newest file's last record lacks its newline (the next append writes one first). */
  endsWithNewline: boolean;
}

interface Region {
  lines: number;
  starts: number;
  /** Good records that repeat a sequence number or a 'new' id already read: a second writer's. */
  dups: number;
}

/** Rebuild the violations from the journal files' contents, oldest file first. */
export function parseJournal(files: readonly { text: string }[]): JournalLoad {
  const byId = new Map<string, Violation>();
  let records = 0;
  let legacy = 0;
  let damaged = 0;
  let corrupt = 0;
  let missing = 0;
  let torn = false;
  let prevSeq: number | null = null;
  let maxSeq = 0;
  /** The highest id in a good record, and in any text at all (damaged lines, a torn tail). */
  let maxGoodId = 0;
  let maxId = 0;
  let minNewId = Number.POSITIVE_INFINITY;
  let newInFiles = 0;
  let header: number | null = null;
  let lastRegionDamage = 0;
  let reserveIds = 0;
  let region: Region = { lines: 0, starts: 0, dups: 0 };
  let lost = 0;
  let endsWithNewline = true;

  const closeRegion = (nextSeq: number | null): void => {
    const gap = prevSeq !== null && nextSeq !== null ? nextSeq - prevSeq - 1 : 0;
    if (region.lines === 0) {
      if (gap > 0) missing += gap;
      lastRegionDamage = 0;
    } else {
      const bad = region.lines - region.dups;
      lastRegionDamage = (gap > 0 ? gap : bad > 0 ? Math.max(1, region.starts) : 0) + region.dups;
      damaged += lastRegionDamage;
      // Ids are reserved generously: one per bad line too, as flips can hide record starts.
      reserveIds += Math.max(lastRegionDamage, region.lines);
    }
    region = { lines: 0, starts: 0, dups: 0 };
  };
  const seeIds = (text: string): void => {
    for (const m of text.matchAll(ID_IN_TEXT)) maxId = Math.max(maxId, Number(m[1]));
    // A damaged rotation header still tells how many ids came before, if its count survived.
    for (const m of text.matchAll(NEW_BEFORE_IN_TEXT)) maxId = Math.max(maxId, Number(m[1]));
  };

  files.forEach((f, fi) => {
    const text = f.text;
    const lines = text.split('\n');
    const endsClean = text.length === 0 || text.endsWith('\n');
    if (fi === files.length - 1) endsWithNewline = endsClean;
    if (endsClean) lines.pop();
    lines.forEach((line, li) => {
      if (line.trim() === '') return;
      const lastUnterminated = fi === files.length - 1 && li === lines.length - 1 && !endsClean;
      const r = parseRecord(line);
      if (!r.ok) {
        seeIds(line);
        if (lastUnterminated && !HAS_CRC.test(line)) {
          torn = true;
          return;
        }
        region.lines++;
        corrupt++;
        region.starts += (line.match(RECORD_START) ?? []).length;
        return;
      }
      // Two writers on one directory hand out the same sequence numbers and ids: the second record
      // of a number, or of a 'new' id, is damage (counted, skipped), never a silent overwrite.
      if ((r.seq !== null && r.seq <= maxSeq) || (r.rec.op === 'new' && byId.has(r.rec.v.id))) {
        seeIds(line);
        region.lines++;
        region.dups++;
        corrupt++;
        return;
      }
      closeRegion(r.seq);
      records++;
      if (r.seq === null) legacy++;
      else maxSeq = Math.max(maxSeq, r.seq);
      prevSeq = r.seq;
      if (fi === 0 && records === 1 && r.rec.op === 'file') header = r.rec.newBefore;
      apply(r.rec);
    });
  });
  if (region.lines > 0) closeRegion(null);
  else lastRegionDamage = 0;

  function apply(rec: JournalRecord): void {
    if (rec.op === 'new') {
      byId.set(rec.v.id, rec.v);
      newInFiles++;
      const n = idNumber(rec.v.id);
      // Ids increase in file order: damage before this record hid only lower ids, which need
      // no reservation (and must not shift the ids again at every restart).
      if (n !== null && n >= maxGoodId) reserveIds = 0;
      if (n !== null) {
        maxGoodId = Math.max(maxGoodId, n);
        maxId = Math.max(maxId, n);
        minNewId = Math.min(minNewId, n);
      }
    } else if (rec.op === 'lost') {
      // Their ids were handed out: they count towards the floor of the next id.
      lost += rec.records;
      newInFiles += rec.newRecords;
    } else if (rec.op === 'repeat' || rec.op === 'cleared') {
      // A repeat or clear whose 'new' record was damaged still names the id: keep it reserved.
      maxId = Math.max(maxId, idNumber(rec.id) ?? 0);
    }
    if (rec.op === 'repeat') {
      const v = byId.get(rec.id);
      if (v) {
        v.count = rec.count;
        if (!Number.isNaN(rec.lastT)) v.lastT = rec.lastT;
      }
    } else if (rec.op === 'cleared') {
      const v = byId.get(rec.id);
      if (v) v.clearedT = rec.clearedT;
    }
  }

  // Without a header (a v1 journal, or the header damaged), ids are consecutive enough to estimate.
  const rotatedOut = header ?? (Number.isFinite(minNewId) ? minNewId - 1 : 0);
  const reserve = reserveIds + (torn ? 1 : 0);
  return {
    violations: [...byId.values()],
    records,
    damagedRecords: damaged,
    corruptLines: corrupt,
    missingRecords: missing,
    lostRecords: lost,
    tornTail: torn,
    legacyRecords: legacy,
    files: files.length,
    rotatedOut,
    newRecords: rotatedOut + newInFiles,
    // Ids are handed out one per 'new' record from v1: the count of them is a floor for the
    // highest, even when damage hid every id after a rotation header.
    nextId: Math.max(Math.max(maxGoodId, rotatedOut + newInFiles) + 1 + reserve, maxId + 1),
    nextSeq: maxSeq + 1 + lastRegionDamage + (torn ? 1 : 0),
    endsWithNewline,
  };
}

/** `v12` → 12; null for anything else. */
export function idNumber(id: string): number | null {
  if (!/^v\d{1,15}$/.test(id)) return null;
  return Number(id.slice(1));
}

function tryJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

function isObj(o: unknown): o is Record<string, unknown> {
  return typeof o === 'object' && o !== null && !Array.isArray(o);
}
