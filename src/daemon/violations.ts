/**
 * Where a violation goes once a check raised it, in this order: the journal (durable first, so a
 * crash right after loses nothing), the store behind the API, the metrics, the log. A journal
 * failure is logged (and counted by the journal) but never keeps the violation from the API,
 * the metrics and the log.
 */
import { errorLogFields } from '../errors.js';
import type { Logger } from 'pino';
import { Journal, nextIdAfter, type FsyncPolicy } from '../violations/journal.js';
import { ViolationStore } from '../violations/store.js';
import type { Violation, ViolationSink, ViolationUpdate } from '../violations/violation.js';

/** The journal (when there is one) and the store, restored from it. */
export interface ViolationRecords {
  journal: Journal | null;
  store: ViolationStore;
  /** The next violation id: a restart continues the journal's numbering. */
  firstId: number;
}

/** Open the journal and restore its violations, so a restart serves the history again. */
export function openViolationRecords(dir: string | null, fsync: FsyncPolicy, log: Logger): ViolationRecords {
  const store = new ViolationStore();
  if (!dir) return { journal: null, store, firstId: 1 };
  const journal = new Journal({ dir, fsync });
  const load = journal.open();
  store.load(load.violations);
  if (load.corruptLines || load.tornTail) {
    log.warn(
      { corruptLines: load.corruptLines, tornTail: load.tornTail },
      'journal had damaged lines; they were skipped',
    );
  }
  log.info({ dir, restored: load.violations.length, files: load.files }, 'journal opened');
  return { journal, store, firstId: nextIdAfter(load.violations) };
}

/** The metrics' part in a violation: counting the new ones. */
export interface ViolationCounter {
  violation(v: Violation): void;
}

export function violationSink(
  records: ViolationRecords,
  counter: ViolationCounter,
  log: Logger,
): ViolationSink {
  const { journal, store } = records;
  return {
    violation(v: Violation, u: ViolationUpdate) {
      if (journal) {
        try {
          journal.write(v, u);
        } catch (err) {
          log.error(errorLogFields(err), 'violation journal write failed');
        }
      }
      store.update(v, u);
      if (u === 'new') {
        counter.violation(v);
        const level = v.severity === 'error' ? 'error' : 'warn';
        log[level](
          { violation: v.id, kind: v.kind, pfn: v.pfn, pgmap: v.pgmap?.id, pid: v.pid, comm: v.comm },
          `${v.kind}: ${v.message}`,
        );
      } else if (u === 'cleared') {
        log.info({ violation: v.id, kind: v.kind, pfn: v.pfn }, `${v.kind} cleared`);
      }
    },
  };
}
