/**
 * bpftrace stderr → events and log lines.
 *
 * bpftrace 0.17 writes "Lost N events" when the perf buffer overflowed, and "ERROR: ..." /
 * "WARNING: ..." lines. An attach error ends the process (bpftrace refuses the whole script), so
 * the probe it names is reported unattached and remembered: the next plan() leaves it out.
 */
import type { BackendLog, Emit } from '../backend.js';
import { lostEvent } from './decode.js';
import type { IncludedProbe } from './script.js';

export interface StderrContext {
  included: readonly IncludedProbe[];
  /** Called with the probe that failed to attach and why (the backend excludes it next time). */
  onAttachFailure(probe: string, reason: string): void;
  /** Monotonic ns to stamp meta events with (the last kernel timestamp seen, or 0). */
  now(): number;
}

/** Which included probe does this text name? Longest hook target wins (memunmap_pages vs ...). */
export function probeNamedIn(text: string, included: readonly IncludedProbe[]): string | null {
  let best: { probe: string; len: number } | null = null;
  for (const p of included) {
    for (const h of p.hooks) {
      const re = new RegExp(
        `(^|[^A-Za-z0-9_.])${h.target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^A-Za-z0-9_.])`,
      );
      if (re.test(text) && (best === null || h.target.length > best.len))
        best = { probe: p.probe, len: h.target.length };
    }
  }
  return best?.probe ?? null;
}

const ATTACH_ERROR =
  /Error attaching probe|No BTF found for|Could not resolve symbol|failed to attach|Unknown (kfunc|function|tracepoint)/i;

export function handleStderrLine(line: string, emit: Emit, log: BackendLog, ctx: StderrContext): void {
  const text = line.trim();
  if (text.length === 0) return;
  const lost = /Lost (\d+) events/.exec(text);
  if (lost) {
    emit(lostEvent(Number(lost[1]), ctx.now()));
    log.warn('bpftrace lost events: the perf buffer overflowed', { count: Number(lost[1]) });
    return;
  }
  if (/RLIMIT_MEMLOCK/.test(text)) {
    // Kernels >= 5.11 account BPF memory to the cgroup; the rlimit is not needed there.
    log.debug(text);
    return;
  }
  if (ATTACH_ERROR.test(text)) {
    const probe = probeNamedIn(text, ctx.included);
    if (probe !== null) {
      emit({
        type: 'probe_status',
        t: ctx.now(),
        pid: 0,
        comm: '',
        backend: 'bpftrace',
        probe,
        attached: false,
        detail: text,
      });
      ctx.onAttachFailure(probe, text);
    }
    log.error('bpftrace could not attach a probe', { probe, line: text });
    return;
  }
  if (text.startsWith('ERROR')) log.error(text);
  else if (text.startsWith('WARNING')) log.warn(text);
  else log.info(text);
}
