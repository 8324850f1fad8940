/** A complete violation record, every field set, for journal and store tests. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Violation } from '../../src/violations/violation.js';

export function violation(n: number, over: Partial<Violation> = {}): Violation {
  return {
    id: `v${n}`,
    kind: 'map_zero_ref',
    severity: 'error',
    invariant: 'V1',
    t: 1_000_000_000 + n * 1000,
    time: new Date(Date.UTC(2026, 10, 25, 12, 0, n)).toISOString(),
    message: `folio mapped with refcount 0 (#${n})`,
    pfn: 0x140000 + n,
    pgmap: { id: 'pm0', type: 'fs_dax', device: 'namespace0.0' },
    order: 0,
    observed: { refcount: 0, mapcount: 1 },
    expected: { refcount: '>= 1' },
    pid: 4242,
    comm: 'writer',
    stack: ['vmf_insert_page_mkwrite+0x1c', 'dax_fault_iter+0x2f0'],
    kernel: { release: '7.3.4+deb13-amd64', model: 'new' },
    recentEvents: [
      { type: 'folio_map', t: 1_000_000_000 + n * 1000, pid: 4242, comm: 'writer', refcount: 0, mapcount: 1 },
    ],
    count: 1,
    lastT: 1_000_000_000 + n * 1000,
    clearedT: null,
    details: { note: 'fixture' },
    ...over,
  };
}

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export function journalFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^violations-\d{6}\.ndjson$/.test(f))
    .sort();
}

/** Every line of every journal file, parsed, in order. */
export function journalLines(dir: string): { op: string; id?: string; count?: number }[] {
  return journalFiles(dir).flatMap((f) =>
    fs
      .readFileSync(path.join(dir, f), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { op: string; id?: string; count?: number }),
  );
}
