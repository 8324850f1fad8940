/**
 * Replay: a recorded stream (NDJSON or binary, see src/events/recording.ts) through exactly the
 * live pipeline. The engine of `daxmon replay` (src/commands/replay.ts), of the tests (fixtures in
 * test/fixtures/streams) and of the bench.
 */
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import type { CheckConfig } from './checks/types.js';
import { DaxmonError } from './errors.js';
import type { StreamHeader } from './events/ndjson.js';
import { createRecordingDecoder, type RecordingDecoder } from './events/recording.js';
import type { DaxEvent, RefcountModel } from './events/types.js';
import { buildPipeline, type Pipeline } from './pipeline.js';
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
