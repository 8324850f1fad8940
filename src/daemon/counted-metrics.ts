/**
 * The metrics read the pipeline's state, the checks, the backends and the scanner at scrape
 * time, so they are built after all of them; but four of them are counted as they happen
 * (violations raised, busy-page waits closed, pgmap teardowns done, scans done), reported by
 * the very things the metrics read. `CountedMetrics` is that one edge pointing back: the
 * pipeline and the scanner are built with it, and `connect()` joins it to the metrics once they
 * exist. startDaemon connects before any event flows (nothing is ingested earlier), and an event
 * that arrived unconnected would be a start-up order bug: it throws rather than going uncounted.
 */
import type { DaxmonMetrics } from '../metrics/registry.js';
import type { StateObserver } from '../state/state.js';
import type { OpenWait } from '../state/waits.js';
import type { Violation } from '../violations/violation.js';
import type { ViolationCounter } from './violations.js';

export type Counted = Pick<DaxmonMetrics, 'violation' | 'waitClosed' | 'teardownDone' | 'scanDone'>;

export class CountedMetrics implements Counted, ViolationCounter {
  private metrics: Counted | null = null;

  connect(metrics: Counted): void {
    this.metrics = metrics;
  }

  /** What the state reports (DaxState's observer). */
  get stateObserver(): StateObserver {
    return {
      waitClosed: (w, endT) => this.waitClosed(w, endT),
      teardownDone: (_p, seconds) => this.teardownDone(seconds),
    };
  }

  violation(v: Violation): void {
    this.target().violation(v);
  }

  waitClosed(w: OpenWait, endT: number): void {
    this.target().waitClosed(w, endT);
  }

  teardownDone(seconds: number | null): void {
    this.target().teardownDone(seconds);
  }

  scanDone(seconds: number): void {
    this.target().scanDone(seconds);
  }

  private target(): Counted {
    if (!this.metrics) throw new Error('an event was counted before the metrics were connected');
    return this.metrics;
  }
}
