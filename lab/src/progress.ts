/**
 * What the lab shows while the guest boots and daxmon starts, which takes minutes under emulation.
 * The stages come from the guest's console markers (guest.ts) and from daxmon's own API through the
 * forwarded port. On a terminal one line updates in place with the time spent; anywhere else (CI,
 * a pipe, a test's print) a plain line is written once per change.
 */
export type LabStage =
  | 'kernel'
  | 'initramfs'
  | 'guest-up'
  | 'pmem-ready'
  | 'daxmon-starting'
  | 'daxmon-serving'
  | 'ready'
  | 'stopping';

const ORDER: readonly LabStage[] = [
  'kernel',
  'initramfs',
  'guest-up',
  'pmem-ready',
  'daxmon-starting',
  'daxmon-serving',
  'ready',
  'stopping',
];

const STAGE_TEXT: Record<LabStage, string> = {
  kernel: 'kernel booting',
  initramfs: 'initramfs: loading modules, mounting the host root',
  'guest-up': 'guest up: setting up pmem',
  'pmem-ready': 'pmem ready: starting daxmon',
  'daxmon-starting': 'daxmon starting (node is slow under emulation)',
  'daxmon-serving': 'daxmon serving, attaching probes',
  ready: 'ready',
  stopping: 'stopping',
};

export interface ProbeCount {
  attached: number;
  total: number;
}

export interface Progress {
  stage: LabStage;
  /** When the lab started and when the current stage began (ms, same clock). */
  startMs: number;
  stageMs: number;
  probes?: ProbeCount;
  /** daxmon finished its first struct-page scan. */
  scanned: boolean;
}

/** Moves forward only: a slow poll answering after a later console marker must not go back. */
export function advance(p: Progress, stage: LabStage, nowMs: number): Progress {
  if (ORDER.indexOf(stage) <= ORDER.indexOf(p.stage)) return p;
  return { ...p, stage, stageMs: nowMs };
}

function secs(ms: number): string {
  return `${Math.max(0, Math.round(ms / 1000))} s`;
}

/**
 * The progress line. With `nowMs`: the time spent, as the live line shows it (`live`: in this stage
 * and in all) or as a plain line does (when it was reached); without, none (the change key).
 */
export function progressText(p: Progress, nowMs?: number, live = false): string {
  const parts = [STAGE_TEXT[p.stage]];
  if (p.probes && (p.stage === 'daxmon-serving' || p.stage === 'ready'))
    parts.push(`probes attached ${p.probes.attached} of ${p.probes.total}`);
  if (p.scanned) parts.push('first scan done');
  const text = `daxmon lab: ${parts.join(', ')}`;
  if (nowMs === undefined) return text;
  if (!live) return `${text} (at ${secs(nowMs - p.startMs)})`;
  return `${text} (${secs(nowMs - p.stageMs)} in this stage, ${secs(nowMs - p.startMs)} in all)`;
}

/**
 * The probe count in daxmon's /api/state answer (its `probes` list), if it has one: the event
 * backends' probes, not the struct-page scanner's `scan` (it attaches without a backend, and the
 * user waits on the probes that see the workload).
 */
export function probeCount(state: unknown): ProbeCount | undefined {
  const listed = (state as { probes?: unknown } | null | undefined)?.probes;
  if (!Array.isArray(listed)) return undefined;
  const probes = listed.filter((p) => (p as { backend?: unknown } | null)?.backend !== 'scan');
  const attached = probes.filter((p) => (p as { attached?: unknown } | null)?.attached === true).length;
  return { attached, total: probes.length };
}

/** Whether daxmon's metrics say a struct-page scan has completed. */
export function scanDone(metrics: string): boolean {
  const m = /^daxmon_scan_last_success_timestamp_seconds(?:\{\})? (\S+)$/m.exec(metrics);
  return m !== null && Number(m[1]) > 0;
}

export interface ProgressSink {
  write(text: string): void;
  /** A terminal: one live line, redrawn in place. */
  live: boolean;
}

/**
 * Shows progress and the lab's other output through one sink, so a permanent line never lands in
 * the middle of the live one.
 */
export class ProgressView {
  private p: Progress;
  private shown = '';
  private liveShown = false;
  private closed = false;

  constructor(
    private readonly sink: ProgressSink,
    private readonly now: () => number = Date.now,
  ) {
    const t = now();
    this.p = { stage: 'kernel', startMs: t, stageMs: t, scanned: false };
    this.render();
  }

  get progress(): Progress {
    return this.p;
  }

  stage(stage: LabStage): void {
    this.p = advance(this.p, stage, this.now());
    this.render();
  }

  probes(probes: ProbeCount): void {
    this.p = { ...this.p, probes };
    this.render();
  }

  scanned(): void {
    this.p = { ...this.p, scanned: true };
    this.render();
  }

  /** A permanent line (daxmon's output, the URLs). */
  line(text: string): void {
    this.clearLive();
    this.sink.write(`${text}\n`);
    this.render(true);
  }

  /** Redraws the live line with the time spent (call it every second on a terminal). */
  tick(): void {
    if (this.sink.live && !this.closed) this.render(true);
  }

  close(): void {
    this.clearLive();
    this.closed = true;
  }

  private clearLive(): void {
    if (this.liveShown) this.sink.write('\r\x1b[2K');
    this.liveShown = false;
  }

  private render(redraw = false): void {
    if (this.closed) return;
    const text = progressText(this.p);
    if (this.sink.live) {
      if (text === this.shown && !redraw) return;
      this.shown = text;
      this.clearLive();
      this.sink.write(progressText(this.p, this.now(), true));
      this.liveShown = true;
      return;
    }
    if (text === this.shown) return;
    this.shown = text;
    this.sink.write(`${progressText(this.p, this.now())}\n`);
  }
}
