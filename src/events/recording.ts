/**
 * A recorded stream in either format, told apart by its first bytes: the binary format starts
 * with its magic, NDJSON with its header line. Replay and the tests read recordings only through
 * this, so a recording's format is never something the user has to name.
 */
import { BINARY_MAGIC, BinaryDecoder, BinaryEncoder, isBinaryRecording } from './binary.js';
import { NdjsonDecoder, encodeEvent, encodeHeader, type DecodeSink, type StreamHeader } from './ndjson.js';
import type { DaxEvent } from './types.js';

export type RecordingFormat = 'ndjson' | 'binary';
export const RECORDING_FORMATS: readonly RecordingFormat[] = ['ndjson', 'binary'];

export interface RecordingDecoder {
  push(chunk: Buffer): void;
  end(): void;
  stop(): void;
  /** Known once enough bytes arrived to tell. */
  readonly format: RecordingFormat | null;
}

export function createRecordingDecoder(sink: DecodeSink): RecordingDecoder {
  let inner: NdjsonDecoder | BinaryDecoder | null = null;
  let format: RecordingFormat | null = null;
  let head: Buffer = Buffer.alloc(0);
  let stopped = false;
  const choose = (bytes: Buffer): void => {
    format = isBinaryRecording(bytes) ? 'binary' : 'ndjson';
    inner = format === 'binary' ? new BinaryDecoder(sink) : new NdjsonDecoder(sink);
    if (stopped) inner.stop();
  };
  return {
    get format() {
      return format;
    },
    push(chunk) {
      if (inner) return inner.push(chunk);
      head = head.length ? Buffer.concat([head, chunk]) : chunk;
      // Anything that differs from the magic in its first bytes is NDJSON (or garbage, which the
      // NDJSON decoder reports line by line).
      const decided =
        head.length >= BINARY_MAGIC.length ||
        !BINARY_MAGIC.subarray(0, head.length).equals(head.subarray(0, BINARY_MAGIC.length));
      if (!decided) return;
      choose(head);
      const all = head;
      head = Buffer.alloc(0);
      inner!.push(all);
    },
    end() {
      if (!inner) {
        choose(head);
        if (head.length) inner!.push(head);
      }
      inner!.end();
    },
    stop() {
      stopped = true;
      inner?.stop();
    },
  };
}

/** Writes a recording in the chosen format: the header once, then events. */
export interface RecordingEncoder {
  header(h: Omit<StreamHeader, 'daxmon' | 'schema'>): Buffer | string;
  event(e: DaxEvent): Buffer | string;
}

export function createRecordingEncoder(format: RecordingFormat): RecordingEncoder {
  if (format === 'ndjson') return { header: encodeHeader, event: encodeEvent };
  const enc = new BinaryEncoder();
  return { header: (h) => enc.header(h), event: (e) => enc.event(e) };
}

/** `.dxb` recordings are binary unless the format is named; everything else is NDJSON. */
export function recordingFormatFor(file: string, named?: RecordingFormat): RecordingFormat {
  return named ?? (file.endsWith('.dxb') ? 'binary' : 'ndjson');
}
