import { MARKERS } from './markers.js';

/** What a console line tells the host about the guest's progress. */
export type ConsoleEvent =
  | { kind: 'ready'; guestUptimeSeconds: number | undefined }
  | { kind: 'panic'; line: string }
  | { kind: 'oops'; line: string }
  | { kind: 'boot-failed'; reason: string }
  | { kind: 'done'; rc: number }
  | { kind: 'stage'; stage: string; guestUptimeSeconds: number | undefined }
  | { kind: 'warning'; line: string };

const PANIC_RE = /Kernel panic - not syncing|end Kernel panic/;
// An oops kills the task that hit it; the kernel goes on unless panic_on_oops is set.
const OOPS_RE = /BUG: unable to handle|general protection fault|Oops: |kernel BUG at/;
const WARN_RE = /WARNING: CPU: \d+ PID: \d+ at |------------\[ cut here \]------------/;

/**
 * Classifies one console line. The markers may be preceded by kernel messages on the same line
 * (the console is shared), so they are searched, not anchored.
 */
export function classifyConsoleLine(line: string): ConsoleEvent | undefined {
  const ready = line.indexOf(MARKERS.ready);
  if (ready >= 0) {
    const up = Number.parseFloat(
      line
        .slice(ready + MARKERS.ready.length)
        .trim()
        .split(/\s+/)[0] ?? '',
    );
    return { kind: 'ready', guestUptimeSeconds: Number.isFinite(up) ? up : undefined };
  }
  const failed = line.indexOf(MARKERS.bootFailed);
  if (failed >= 0)
    return { kind: 'boot-failed', reason: line.slice(failed + MARKERS.bootFailed.length).trim() };
  const done = line.indexOf(`${MARKERS.done} rc=`);
  if (done >= 0) {
    const rc = Number.parseInt(line.slice(done + MARKERS.done.length + 4), 10);
    return { kind: 'done', rc: Number.isFinite(rc) ? rc : -1 };
  }
  const stage = line.indexOf(`${MARKERS.stage} `);
  if (stage >= 0) {
    const [name = '', up = ''] = line
      .slice(stage + MARKERS.stage.length + 1)
      .trim()
      .split(/\s+/);
    const n = Number.parseFloat(up);
    return { kind: 'stage', stage: name, guestUptimeSeconds: Number.isFinite(n) ? n : undefined };
  }
  if (PANIC_RE.test(line)) return { kind: 'panic', line: line.trim() };
  if (OOPS_RE.test(line)) return { kind: 'oops', line: line.trim() };
  if (WARN_RE.test(line)) return { kind: 'warning', line: line.trim() };
  return undefined;
}

/** Splits a byte stream into lines, keeping the unfinished tail for the next chunk. */
export class LineSplitter {
  private tail = '';
  push(chunk: string): string[] {
    const text = this.tail + chunk.replace(/\r/g, '');
    const lines = text.split('\n');
    this.tail = lines.pop() ?? '';
    return lines;
  }
  flush(): string[] {
    const rest = this.tail;
    this.tail = '';
    return rest.length > 0 ? [rest] : [];
  }
}
