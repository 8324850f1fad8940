/**
 * `--record FILE` / `daxmon record --out FILE`: the live event stream, written as the pipeline
 * takes it (a pipeline observer, so the file holds exactly what was checked), in the format
 * `daxmon replay` reads (NDJSON, or binary for a .dxb file or --record-format binary).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DaxmonError } from '../errors.js';
import { createRecordingEncoder, recordingFormatFor, type RecordingFormat } from '../events/recording.js';
import type { DaxEvent, RefcountModel } from '../events/types.js';

export interface Recording {
  write(e: DaxEvent): void;
  /** Resolves once everything written is on its way to the file. */
  close(): Promise<void>;
}

export interface RecordingOptions {
  file: string;
  format: RecordingFormat | undefined;
  kernel: { release: string; model: RefcountModel };
  /** The backend choice, as the header's `source`. */
  source: string;
}

/** Open the recording and write its header. */
export function openRecording(o: RecordingOptions): Recording {
  const encoder = createRecordingEncoder(recordingFormatFor(o.file, o.format));
  const out = openFile(o.file);
  out.write(
    encoder.header({
      created: new Date().toISOString(),
      kernel: o.kernel,
      source: o.source,
      hostname: os.hostname(),
    }),
  );
  return {
    write: (e) => out.write(encoder.event(e)),
    close: () => new Promise<void>((resolve) => out.end(resolve)),
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
