/**
 * `daxmon replay FILE`: a recorded stream through the live pipeline (src/replay.ts), optionally
 * journaling what fires, and a summary of what it found: events, pgmaps, folios, violations.
 *
 * Exit status: 0 done; 1 violations with --fail-on-violation; 2 unusable input (whether or not
 * --strict was given); 3 malformed lines (each reported with its line number; the rest was still
 * processed unless --strict stopped at the first).
 */
import type { Readable } from 'node:stream';
import type { CheckActivity } from '../checks/engine.js';
import type { CheckConfig } from '../checks/types.js';
import type { RefcountModel } from '../events/types.js';
import { replay, type InputError, type ReplayResult } from '../replay.js';
import { eventCountsByType, pgmapFolioSeries, sumFolioCounts } from '../state/figures.js';
import { Journal } from '../violations/journal.js';
import type { Violation } from '../violations/violation.js';

export interface ReplayCommandOptions {
  json: boolean;
  strict: boolean;
  failOnViolation: boolean;
  model?: RefcountModel | undefined;
  /** Also append the violations to a journal here. */
  journalDir?: string | undefined;
  checkConfig: Partial<CheckConfig>;
  out?: NodeJS.WritableStream;
  err?: NodeJS.WritableStream;
  /** Read this instead of FILE, which still names the input in messages (tests, the fuzz suite). */
  input?: Readable | Buffer;
}

/** Bad lines printed to stderr at most; the summary has the count. */
const MAX_REPORTED_ERRORS = 20;

export async function runReplay(file: string, o: ReplayCommandOptions): Promise<number> {
  const out = o.out ?? process.stdout;
  const err = o.err ?? process.stderr;
  const journal = o.journalDir ? new Journal({ dir: o.journalDir }) : null;
  const firstId = journal ? journal.open().nextId : undefined;
  const r = await replay(o.input ?? file, {
    model: o.model,
    strict: o.strict,
    checkConfig: o.checkConfig,
    ...(journal ? { sink: { violation: (x, u) => journal.write(x, u) } } : {}),
    ...(firstId !== undefined ? { firstViolationId: firstId } : {}),
    ...(journal ? { violationIds: () => journal.takeId() } : {}),
  });
  journal?.close();
  const s = summarize(file, r);
  out.write(o.json ? JSON.stringify(s, null, 2) + '\n' : formatSummary(s));
  for (const e of r.errors.slice(0, MAX_REPORTED_ERRORS))
    err.write(`daxmon replay: ${file}:${e.line}: ${e.message}\n`);
  if (r.errors.length > MAX_REPORTED_ERRORS)
    err.write(`daxmon replay: … ${r.errors.length - MAX_REPORTED_ERRORS} more bad lines\n`);
  // Unusable input is 2 whether or not --strict was given; a --strict stop at a bad line is 3.
  if (r.unusable) {
    // The cause with its code, as every other daxmon error prints (`daxmon: CODE: message`).
    err.write(`daxmon replay: ${r.fatalCode ?? 'DAXMON_E_INPUT'}: ${r.fatal}\n`);
    return 2;
  }
  if (r.errors.length > 0) return 3;
  if (o.failOnViolation && r.violations.length > 0) return 1;
  return 0;
}

export interface ReplaySummary {
  file: string;
  kernel: { release: string; model: RefcountModel };
  events: { total: number; byType: Record<string, number> };
  inputErrors: { count: number; first: InputError[] };
  fatal: string | null;
  pgmaps: { id: string; type: string; device: string | null; pages: number; phase: string }[];
  folios: { tracked: number; byState: Record<string, number>; uncertain: number };
  violations: { total: number; byKind: Record<string, number>; items: Violation[] };
  checks: CheckActivity[];
  seconds: number;
  eventsPerSecond: number;
}

export function summarize(file: string, r: ReplayResult, maxErrors = 20): ReplaySummary {
  const st = r.pipeline.state;
  const byType = eventCountsByType(st);
  // The same sum as /api/state's folios (no scan in a replay: the tracked folios).
  const all = sumFolioCounts(pgmapFolioSeries(st, undefined).map((x) => x.counts));
  const byState: Record<string, number> = all.byState;
  const uncertain = all.uncertain;
  const byKind: Record<string, number> = {};
  for (const v of r.violations) byKind[v.kind] = (byKind[v.kind] ?? 0) + 1;
  return {
    file,
    kernel: { release: r.release, model: r.model },
    events: { total: r.events, byType },
    inputErrors: { count: r.errors.length, first: r.errors.slice(0, maxErrors) },
    fatal: r.fatal,
    pgmaps: st.pgmaps.all.map((p) => ({
      id: p.id,
      type: p.type,
      device: p.device,
      pages: p.ranges.reduce((a, x) => a + x.nrPages, 0),
      phase: p.phase,
    })),
    folios: { tracked: st.folios.size, byState, uncertain },
    violations: { total: r.violations.length, byKind, items: r.violations },
    checks: r.pipeline.engine.activity(),
    seconds: r.seconds,
    eventsPerSecond: r.seconds > 0 ? Math.round(r.events / r.seconds) : 0,
  };
}

export function formatSummary(s: ReplaySummary): string {
  const lines: string[] = [];
  lines.push(`daxmon replay ${s.file}`);
  lines.push(`  kernel      ${s.kernel.release} (${s.kernel.model} refcount model)`);
  const types = Object.entries(s.events.byType)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  lines.push(`  events      ${s.events.total}${types ? ` (${types})` : ''}`);
  if (s.inputErrors.count > 0) lines.push(`  bad lines   ${s.inputErrors.count}`);
  lines.push(
    `  pgmaps      ${s.pgmaps.length}${s.pgmaps.length ? ': ' + s.pgmaps.map((p) => `${p.id} ${p.type}${p.device ? ' ' + p.device : ''} ${p.pages} pages ${p.phase}`).join('; ') : ''}`,
  );
  const states = Object.entries(s.folios.byState)
    .filter(([, n]) => n > 0)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  lines.push(
    `  folios      ${s.folios.tracked} tracked${states ? ` (${states})` : ''}${s.folios.uncertain ? `, ${s.folios.uncertain} uncertain` : ''}`,
  );
  const kinds = Object.entries(s.violations.byKind)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  lines.push(`  violations  ${s.violations.total}${kinds ? ` (${kinds})` : ''}`);
  for (const v of s.violations.items.slice(0, 20)) {
    lines.push(`    ${v.id} ${v.severity} ${v.kind}${v.pfn !== null ? ` pfn ${v.pfn}` : ''}: ${v.message}`);
  }
  if (s.violations.items.length > 20) lines.push(`    … ${s.violations.items.length - 20} more (use --json)`);
  const inactive = s.checks.filter((c) => !c.active);
  if (inactive.length) lines.push(`  inactive    ${inactive.map((c) => c.kind).join(', ')}`);
  lines.push(`  took        ${s.seconds.toFixed(3)} s (${s.eventsPerSecond} events/s)`);
  if (s.fatal) lines.push(`  stopped     ${s.fatal}`);
  return lines.join('\n') + '\n';
}
