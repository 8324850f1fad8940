/**
 * Replay: a recorded stream (NDJSON or binary, see src/events/recording.ts) through exactly the
 * live pipeline. The engine of `daxmon replay` (src/commands/replay.ts), of the tests (fixtures in
 * test/fixtures/streams) and of the bench.
 */
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { CONFIRMED_KINDS, DEFAULT_CHECK_CONFIG, type CheckConfig } from './checks/types.js';
import { DaxmonError, isDaxmonError, type ErrorCode } from './errors.js';
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
  /** Where violation ids come from (the journal, when replay journals). */
  violationIds?: () => number;
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
  /** The catalogue code of an unusable input's `fatal` (the first cause, not a consequence). */
  fatalCode: ErrorCode | null;
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
  const run = new ReplayRun(opts);
  const started = process.hrtime.bigint();
  await run.feed(input);
  return run.finish(Number(process.hrtime.bigint() - started) / 1e9);
}

/** One replay: the decoder's callbacks, and the pipeline built once the model is known. */
class ReplayRun {
  private readonly violations: Violation[] = [];
  private readonly errors: InputError[] = [];
  private fatal: string | null = null;
  private fatalCode: ErrorCode | null = null;
  private unusable = false;
  private header: StreamHeader | null = null;
  private pipeline: Pipeline | null = null;
  private events = 0;
  private readonly collector: ViolationSink;
  private readonly decoder: RecordingDecoder;

  constructor(private readonly opts: ReplayOptions) {
    this.collector = {
      violation: (v: Violation, u: ViolationUpdate) => {
        if (u === 'new') this.violations.push(v);
        opts.sink?.violation(v, u);
      },
    };
    this.decoder = createRecordingDecoder({
      header: (h) => {
        this.header = h;
      },
      event: (e) => this.event(e),
      error: (message, line, isFatal, code) => this.error(message, line, isFatal, code),
    });
  }

  async feed(input: string | Readable | Buffer): Promise<void> {
    if (typeof input === 'string' || !Buffer.isBuffer(input)) {
      const stream = typeof input === 'string' ? openInput(input) : input;
      try {
        for await (const chunk of stream) {
          this.decoder.push(chunk as Buffer);
          if (this.fatal) break;
        }
      } catch (err) {
        // A read that fails part-way (EIO, EISDIR, a pipe that errors) is the input's fault.
        if (isDaxmonError(err) || typeof (err as NodeJS.ErrnoException).code !== 'string') throw err;
        const name = typeof input === 'string' ? (input === '-' ? 'stdin' : input) : 'input';
        throw new DaxmonError('DAXMON_E_INPUT', `${name}: cannot read (${(err as Error).message})`);
      } finally {
        if (typeof input === 'string' && input !== '-') (stream as fs.ReadStream).destroy();
      }
    } else {
      this.decoder.push(input);
    }
    if (!this.fatal) this.decoder.end();
  }

  finish(seconds: number): ReplayResult {
    const p =
      this.ensurePipeline() ??
      buildPipeline({ model: 'new', kernelRelease: 'unknown', sink: this.collector });
    // Time-based checks see the stream's last moment: a wait still open at the end of a recording
    // is judged by how long it had lasted when the recording stopped. Not when the recording
    // carries the live daemon's clock: the live run had no tick there either.
    if (this.header?.clock !== 'recorded') p.tick(p.state.lastT);
    return {
      header: this.header,
      model: p.state.model,
      release: this.header?.kernel.release ?? 'unknown',
      events: this.events,
      errors: this.errors,
      fatal: this.fatal,
      fatalCode: this.unusable ? this.fatalCode : null,
      unusable: this.unusable,
      violations: this.violations,
      pipeline: p,
      seconds,
    };
  }

  private event(e: DaxEvent): void {
    const p = this.ensurePipeline();
    if (!p) {
      this.decoder.stop();
      return;
    }
    p.ingest(e);
    this.events++;
    this.opts.onEvent?.(e);
  }

  private error(message: string, line: number, isFatal: boolean, code?: ErrorCode): void {
    // A headerless stream is fine when --model supplies what its header would have said.
    if (!isFatal && this.opts.model && this.header === null && message.startsWith('missing header')) return;
    this.errors.push({ line, message });
    let stop = isFatal;
    if (isFatal) {
      this.fatal = line > 0 ? `line ${line}: ${message}` : message;
      this.fatalCode = code ?? 'DAXMON_E_INPUT';
      this.unusable = true;
    } else if (this.opts.strict) {
      this.fatal = `line ${line}: ${message} (--strict stops at the first bad line)`;
      stop = true;
    }
    if (stop) this.decoder.stop();
  }

  private ensurePipeline(): Pipeline | null {
    if (this.pipeline) return this.pipeline;
    const model = this.opts.model ?? this.header?.kernel.model;
    if (!model) {
      // After a fatal header error that error is the cause: keep it as the one reported.
      if (!this.unusable) {
        this.fatal = 'the stream has no header naming the refcount model: pass --model old|new';
        this.fatalCode = 'DAXMON_E_INPUT_NO_MODEL';
        this.unusable = true;
      }
      return null;
    }
    this.pipeline = buildPipeline({
      model,
      kernelRelease: this.header?.kernel.release ?? 'unknown',
      sink: this.collector,
      // The live run's thresholds (its header), unless this replay names its own.
      checkConfig: { ...recordedCheckConfig(this.header), ...this.opts.checkConfig },
      // A live recording carries the confirmer's answers: candidates wait for them, as live.
      confirms: CONFIRMED_KINDS.filter(
        (k) => Array.isArray(this.header?.confirms) && this.header.confirms.includes(k),
      ),
      assumeProbesWhenUnknown: true,
      ...(this.opts.firstViolationId !== undefined ? { firstViolationId: this.opts.firstViolationId } : {}),
      ...(this.opts.violationIds ? { violationIds: this.opts.violationIds } : {}),
    });
    return this.pipeline;
  }
}

/** The header's check thresholds: known keys with positive finite numbers only (untrusted input). */
function recordedCheckConfig(h: StreamHeader | null): Partial<CheckConfig> {
  const out: Partial<CheckConfig> = {};
  const c = h?.checkConfig;
  if (typeof c !== 'object' || c === null) return out;
  for (const k of Object.keys(DEFAULT_CHECK_CONFIG) as (keyof CheckConfig)[]) {
    const v = (c as Record<string, unknown>)[k];
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) out[k] = v;
  }
  return out;
}

function openInput(file: string): Readable {
  if (file === '-') return process.stdin;
  // Opened here, synchronously, so that a file that cannot be read (EACCES, ENOENT) is the
  // user's DAXMON_E_INPUT and not an error event of a stream.
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DaxmonError(
      'DAXMON_E_INPUT',
      code === 'ENOENT'
        ? `${file}: no such file; record one with "daxmon record --out FILE"`
        : code === 'EACCES' || code === 'EPERM'
          ? `${file}: permission denied (${code}); run as a user who may read it, or chmod it`
          : `${file}: cannot open (${(err as Error).message})`,
    );
  }
  if (fs.fstatSync(fd).isDirectory()) {
    fs.closeSync(fd);
    throw new DaxmonError(
      'DAXMON_E_INPUT',
      `${file} is a directory; give a recorded stream file (.ndjson or .dxb)`,
    );
  }
  return fs.createReadStream(file, { fd, highWaterMark: 1 << 20 });
}
