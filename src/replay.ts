/**
 * Replay: a recorded stream (NDJSON or binary, see src/events/recording.ts) through exactly the live pipeline. Used by `daxmon replay`, by the
 * tests (fixtures in test/fixtures/streams) and by the bench.
 */
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import type { CheckActivity } from './checks/engine.js';
import type { CheckConfig } from './checks/types.js';
import { DaxmonError } from './errors.js';
import type { StreamHeader } from './events/ndjson.js';
import { createRecordingDecoder, type RecordingDecoder } from './events/recording.js';
import type { DaxEvent, RefcountModel } from './events/types.js';
import { buildPipeline, type Pipeline } from './pipeline.js';
import { eventCountsByType, pgmapFolioSeries, sumFolioCounts } from './state/figures.js';
import type { Violation, ViolationSink, ViolationUpdate } from './violations/violation.js';

export interface ReplayOptions {
  /** Override the header's refcount model (or supply one for a headerless stream). */
  model?: RefcountModel | undefined;
  strict?: boolean;
  checkConfig?: Partial<CheckConfig>;
  /** Extra sink (the journal, when replay journals). Called after the replay's own collector. */
  sink?: ViolationSink;
  firstViolationId?: number;
  /** Called for every event after the pipeline took it. */
  onEvent?: (e: DaxEvent) => void;
}

export interface InputError {
  line: number;
  message: string;
}

export interface ReplayResult {
  header: StreamHeader | null;
  model: RefcountModel;
  release: string;
  events: number;
  errors: InputError[];
  /** The stream could not be (fully) used: unsupported schema, no model, --strict stop. */
  fatal: string | null;
  /** The input as a whole is unusable (unsupported schema or header, no model, empty), not just a bad line. */
  unusable: boolean;
  violations: Violation[];
  pipeline: Pipeline;
  seconds: number;
}

/** Replay from a file path ("-" = stdin), a Readable, or an in-memory string/Buffer. */
export async function replay(
  input: string | Readable | Buffer,
  opts: ReplayOptions = {},
): Promise<ReplayResult> {
  const violations: Violation[] = [];
  const errors: InputError[] = [];
  let fatal: string | null = null;
  let unusable = false;
  let header: StreamHeader | null = null;
  let pipeline: Pipeline | null = null;
  let events = 0;
  let pendingStop = false;
  const collector: ViolationSink = {
    violation(v: Violation, u: ViolationUpdate) {
      if (u === 'new') violations.push(v);
      opts.sink?.violation(v, u);
    },
  };
  const ensurePipeline = (): Pipeline | null => {
    if (pipeline) return pipeline;
    const model = opts.model ?? header?.kernel.model;
    if (!model) {
      fatal = 'the stream has no header naming the refcount model: pass --model old|new';
      unusable = true;
      return null;
    }
    pipeline = buildPipeline({
      model,
      kernelRelease: header?.kernel.release ?? 'unknown',
      sink: collector,
      ...(opts.checkConfig ? { checkConfig: opts.checkConfig } : {}),
      assumeProbesWhenUnknown: true,
      ...(opts.firstViolationId !== undefined ? { firstViolationId: opts.firstViolationId } : {}),
    });
    return pipeline;
  };
  const decoder: RecordingDecoder = createRecordingDecoder({
    header(h) {
      header = h;
    },
    event(e) {
      const p = ensurePipeline();
      if (!p) {
        decoder.stop();
        return;
      }
      p.ingest(e);
      events++;
      opts.onEvent?.(e);
    },
    error(message, line, isFatal) {
      // A headerless stream is fine when --model supplies what its header would have said.
      if (!isFatal && opts.model && header === null && message.startsWith('missing header')) return;
      errors.push({ line, message });
      if (isFatal) {
        fatal = line > 0 ? `line ${line}: ${message}` : message;
        unusable = true;
      } else if (opts.strict) {
        fatal = `line ${line}: ${message} (--strict stops at the first bad line)`;
        pendingStop = true;
      }
      if (isFatal || pendingStop) decoder.stop();
    },
  });

  const started = process.hrtime.bigint();
  if (typeof input === 'string' || !Buffer.isBuffer(input)) {
    const stream = typeof input === 'string' ? openInput(input) : input;
    for await (const chunk of stream) {
      decoder.push(chunk as Buffer);
      if (fatal) break;
    }
    if (typeof input === 'string' && input !== '-') (stream as fs.ReadStream).destroy();
  } else {
    decoder.push(input);
  }
  if (!fatal) decoder.end();
  const p = ensurePipeline() ?? buildPipeline({ model: 'new', kernelRelease: 'unknown', sink: collector });
  // Time-based checks see the stream's last moment: a wait still open at the end of a recording
  // is judged by how long it had lasted when the recording stopped.
  p.tick(p.state.lastT);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const hdr = header as StreamHeader | null;
  return {
    header: hdr,
    model: p.state.model,
    release: hdr?.kernel.release ?? 'unknown',
    events,
    errors,
    fatal,
    unusable,
    violations,
    pipeline: p,
    seconds,
  };
}

function openInput(file: string): Readable {
  if (file === '-') return process.stdin;
  try {
    const st = fs.statSync(file);
    if (st.isDirectory()) {
      throw new DaxmonError(
        'DAXMON_E_INPUT',
        `${file} is a directory; give a recorded stream file (.ndjson or .dxb)`,
      );
    }
  } catch (err) {
    if (err instanceof DaxmonError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new DaxmonError(
      'DAXMON_E_INPUT',
      code === 'ENOENT'
        ? `${file}: no such file; record one with "daxmon record --out FILE"`
        : `${file}: cannot read (${(err as Error).message})`,
    );
  }
  return fs.createReadStream(file, { highWaterMark: 1 << 20 });
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
