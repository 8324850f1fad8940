/**
 * `--record FILE` / `daxmon record --out FILE`: the live event stream, written as the pipeline
 * takes it (a pipeline observer, so the file holds exactly what was checked), in the format
 * `daxmon replay` reads (NDJSON, or binary for a .dxb file or --record-format binary).
 *
 * The pipeline never waits for the disk, so the recorder cannot push back: it buffers up to
 * `maxBufferedBytes` and beyond that drops events (counted in
 * daxmon_recording_dropped_events_total, logged once per gap). When the file catches up again the
 * recording gets an `events_lost` event with the count, so a replay knows it has a gap there, just
 * as it does for a ring buffer that overflowed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { DaxmonError } from '../errors.js';
import { createRecordingEncoder, recordingFormatFor, type RecordingFormat } from '../events/recording.js';
import type { StreamHeader } from '../events/ndjson.js';
import type { BackendName, DaxEvent, RefcountModel } from '../events/types.js';

export interface Recording {
  write(e: DaxEvent): void;
  /** Resolves once everything written is on its way to the file. */
  close(): Promise<void>;
  /** Events not written because the file did not keep up (every gap is marked in the recording). */
  readonly droppedEvents: number;
}

export interface RecordingOptions {
  file: string;
  format: RecordingFormat | undefined;
  kernel: { release: string; model: RefcountModel };
  /** The backend choice, as the header's `source`. */
  source: string;
  /** Bytes the recorder may hold for a slow file before it drops events (default 32 MiB). */
  maxBufferedBytes?: number;
  log?: Logger;
  /** Where to write instead of the file (tests: a slow stream). */
  stream?: Writable;
  /** Header fields that let a replay decide as the live run did (docs/events.md). */
  replay?: Pick<StreamHeader, 'clock' | 'confirms' | 'checkConfig'>;
}

export const DEFAULT_RECORDING_BUFFER = 32 << 20;

/** Open the recording and write its header. */
export function openRecording(o: RecordingOptions): Recording {
  const encoder = createRecordingEncoder(recordingFormatFor(o.file, o.format));
  const out = o.stream ?? openFile(o.file);
  const limit = o.maxBufferedBytes ?? DEFAULT_RECORDING_BUFFER;
  out.write(
    encoder.header({
      created: new Date().toISOString(),
      kernel: o.kernel,
      source: o.source,
      hostname: os.hostname(),
      ...o.replay,
    }),
  );
  let dropped = 0;
  let gap = 0;
  let gapT = 0;
  // The gap marker names a backend (the format's events_lost does): the one feeding the stream.
  let backend: BackendName = o.source === 'bpftrace' ? 'bpftrace' : 'libbpf';
  const markGap = (): void => {
    out.write(encoder.event({ type: 'events_lost', t: gapT, pid: 0, comm: '', backend, count: gap }));
    o.log?.warn({ file: o.file, dropped: gap }, 'recording caught up; the gap is marked in it (events_lost)');
    gap = 0;
  };
  return {
    get droppedEvents() {
      return dropped;
    },
    write(e) {
      if (e.type === 'backend_started') backend = e.backend;
      if (gap > 0 && out.writableLength <= limit / 2) markGap();
      if (gap > 0 || out.writableLength > limit) {
        if (gap === 0)
          o.log?.warn(
            { file: o.file, bufferedBytes: out.writableLength },
            'recording cannot keep up with the events; dropping them until the file catches up',
          );
        gap++;
        dropped++;
        gapT = e.t;
        return;
      }
      out.write(encoder.event(e));
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (gap > 0) markGap();
        out.end(resolve);
      }),
  };
}

function openFile(file: string): fs.WriteStream {
  try {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const fd = fs.openSync(file, 'w', 0o640);
    return fs.createWriteStream('', { fd, highWaterMark: 1 << 20 });
  } catch (err) {
    throw new DaxmonError(
      'DAXMON_E_RECORD_OPEN',
      `cannot write the recording ${file}: ${(err as Error).message}`,
    );
  }
}
