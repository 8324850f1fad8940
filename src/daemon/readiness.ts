/**
 * /readyz: ready means daxmon can check something. Probes that attach but serve no check (the
 * fs_dax fault tracepoints alone, on a kernel that refuses kprobes and fentry) leave it blind,
 * so the answer is decided by the checks' activity, and when not ready the reason says what is
 * missing: no backend at all, a backend down, the probes that could not attach.
 *
 * The struct-page scanner declares itself as the `scan` probe (src/scan/service.ts), so that V7
 * shows as active once a scan reads pages; it does not make daxmon ready. Ready means an event
 * backend's probes are attached: the lab and the VM harness start their workloads on it, and a scan
 * alone sees none of a workload's events (a clean-clone CI run lost every event of its first
 * scenarios when the first scan made /readyz answer 200 before the loader had attached).
 */
import type { CheckEngine } from '../checks/engine.js';
import type { Readiness } from '../server/app.js';
import type { DaxState } from '../state/state.js';
import type { Backends } from './backends.js';

/** The backend name the struct-page scanner's `probe_status` events carry. */
const SCANNER = 'scan';

export function readiness(
  state: DaxState,
  engine: CheckEngine,
  backends: Pick<Backends, 'supervisors' | 'unavailableList'>,
): Readiness {
  const probes = [...state.probes.values()].filter((p) => p.backend !== SCANNER);
  const attached = probes.filter((p) => p.attached);
  const names = attached.map((p) => `${p.backend}:${p.probe}`).join(', ');
  const active = engine.activity().filter((c) => c.active);
  if (active.length > 0 && attached.length > 0) {
    return {
      ready: true,
      reason: `${attached.length} probe(s) attached: ${names}; ${active.length} check(s) active`,
    };
  }
  if (backends.supervisors.length === 0) {
    return {
      ready: false,
      reason: `no probe backend can run here: ${backends.unavailableList() || 'none requested (--backend none)'}`,
    };
  }
  const notAttached = probes.filter((p) => !p.attached);
  const down = backends.supervisors
    .filter((s) => !s.up)
    .map((s) => `${s.backend} ${s.lastExit?.reason ?? 'not started'}`);
  const what = attached.length
    ? `no check can run with the probes attached (${names})`
    : 'no probe attached yet';
  const downPart = down.length ? `; backend ${down.join(', ')}` : '';
  const unavailablePart = notAttached.length
    ? `; unavailable: ${notAttached.map((p) => `${p.probe} (${p.detail})`).join('; ')}`
    : '';
  return { ready: false, reason: `${what}${downPart}${unavailablePart}` };
}
