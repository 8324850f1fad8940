import { describe, expect, it } from 'vitest';
import type { Violation } from '../../src/violations/violation.js';
import { ViolationStore } from '../../src/violations/store.js';
import { violation } from './violation-fixture.js';

/** v1..v8 at one second apart; kinds, severities and pgmaps vary. */
function sample(): Violation[] {
  return [
    violation(1, { kind: 'map_zero_ref', severity: 'error' }),
    violation(2, { kind: 'busy_wait_stuck', severity: 'warning', pgmap: null }),
    violation(3, {
      kind: 'map_zero_ref',
      severity: 'error',
      pgmap: { id: 'pm1', type: 'generic', device: 'dax0.0' },
    }),
    violation(4, { kind: 'idle_refcount_mismatch', severity: 'warning' }),
    violation(5, { kind: 'map_zero_ref', severity: 'error' }),
    violation(6, { kind: 'busy_wait_stuck', severity: 'error', pgmap: null }),
    violation(7, {
      kind: 'map_zero_ref',
      severity: 'warning',
      pgmap: { id: 'pm1', type: 'generic', device: 'dax0.0' },
    }),
    violation(8, { kind: 'free_while_mapped', severity: 'error' }),
  ];
}

function store(vs = sample(), capacity?: number): ViolationStore {
  const s = new ViolationStore(capacity);
  s.load(vs);
  return s;
}

const ids = (vs: Violation[]) => vs.map((v) => v.id);

describe('the violation store answers filtered queries newest first', () => {
  it('with no filter: every violation, newest first', () => {
    expect(store().query({ limit: 100 })).toEqual({
      items: sample().reverse(),
      next: null,
      total: 8,
    });
  });

  it('filters by kind', () => {
    const p = store().query({ kind: 'map_zero_ref', limit: 100 });
    expect(ids(p.items)).toEqual(['v7', 'v5', 'v3', 'v1']);
    expect(p.total).toBe(4);
  });

  it('filters by severity', () => {
    expect(ids(store().query({ severity: 'warning', limit: 100 }).items)).toEqual(['v7', 'v4', 'v2']);
  });

  it('filters by pgmap id (violations without a pgmap never match)', () => {
    expect(ids(store().query({ pgmap: 'pm1', limit: 100 }).items)).toEqual(['v7', 'v3']);
    expect(ids(store().query({ pgmap: 'pm0', limit: 100 }).items)).toEqual(['v8', 'v5', 'v4', 'v1']);
  });

  it('filters by wall-clock time, since and until both inclusive', () => {
    const s = store();
    const at = (n: number) => violation(n).time;
    expect(ids(s.query({ since: at(6), limit: 100 }).items)).toEqual(['v8', 'v7', 'v6']);
    expect(ids(s.query({ until: at(2), limit: 100 }).items)).toEqual(['v2', 'v1']);
    expect(ids(s.query({ since: at(3), until: at(5), limit: 100 }).items)).toEqual(['v5', 'v4', 'v3']);
  });

  it('combines filters', () => {
    const p = store().query({ kind: 'map_zero_ref', severity: 'error', pgmap: 'pm0', limit: 100 });
    expect(ids(p.items)).toEqual(['v5', 'v1']);
  });
});

describe('pagination', () => {
  it('pages newest first with a before cursor; next is null on the last page', () => {
    const s = store();
    const p1 = s.query({ limit: 3 });
    expect(ids(p1.items)).toEqual(['v8', 'v7', 'v6']);
    expect(p1.next).toBe('v6');
    expect(p1.total).toBe(8);
    const p2 = s.query({ limit: 3, before: p1.next! });
    expect(ids(p2.items)).toEqual(['v5', 'v4', 'v3']);
    expect(p2.next).toBe('v3');
    const p3 = s.query({ limit: 3, before: p2.next! });
    expect(ids(p3.items)).toEqual(['v2', 'v1']);
    expect(p3.next).toBeNull();
  });

  it('a page that ends exactly at the last match has no next', () => {
    const p = store().query({ kind: 'map_zero_ref', limit: 4 });
    expect(ids(p.items)).toEqual(['v7', 'v5', 'v3', 'v1']);
    expect(p.next).toBeNull();
  });

  it('filters and the cursor work together', () => {
    const s = store();
    const p1 = s.query({ kind: 'map_zero_ref', limit: 2 });
    expect(ids(p1.items)).toEqual(['v7', 'v5']);
    expect(p1.next).toBe('v5');
    const p2 = s.query({ kind: 'map_zero_ref', limit: 2, before: p1.next! });
    expect(ids(p2.items)).toEqual(['v3', 'v1']);
    expect(p2.next).toBeNull();
  });

  it('the cursor compares ids numerically (v10 is newer than v9) and need not be stored', () => {
    const s = store(Array.from({ length: 12 }, (_, i) => violation(i + 1)));
    expect(ids(s.query({ limit: 3, before: 'v10' }).items)).toEqual(['v9', 'v8', 'v7']);
    expect(ids(s.query({ limit: 2, before: 'v100' }).items)).toEqual(['v12', 'v11']);
    expect(s.query({ limit: 2, before: 'v1' }).items).toEqual([]);
  });
});

describe('capacity and updates', () => {
  it('keeps the newest `capacity` violations, evicting the oldest and counting them', () => {
    const s = store(sample(), 3);
    expect(s.size).toBe(3);
    expect(s.dropped).toBe(5);
    expect(ids(s.query({ limit: 100 }).items)).toEqual(['v8', 'v7', 'v6']);
    expect(s.get('v5')).toBeUndefined();
    expect(s.get('v6')?.kind).toBe('busy_wait_stuck');
    s.update(violation(9), 'new');
    expect(ids(s.query({ limit: 100 }).items)).toEqual(['v9', 'v8', 'v7']);
    expect(s.get('v6')).toBeUndefined();
  });

  it('a repeat or clearing adds nothing; the shared record shows the latest count', () => {
    const s = new ViolationStore();
    const v = violation(1);
    s.update(v, 'new');
    v.count = 5;
    s.update(v, 'repeat');
    v.clearedT = 99;
    s.update(v, 'cleared');
    expect(s.size).toBe(1);
    expect(s.get('v1')).toMatchObject({ count: 5, clearedT: 99 });
  });

  it('a violation already loaded from the journal is not stored twice', () => {
    const s = store();
    s.update(violation(8), 'new');
    s.load([violation(1)]);
    expect(s.size).toBe(8);
  });
});
