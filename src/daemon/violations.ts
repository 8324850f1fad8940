/**
 * Where a violation goes once a check raised it, in this order: the journal (durable first, so a
 * crash right after loses nothing), the store behind the API, the metrics, the log. A journal
 * failure is logged (and counted by the journal) but never keeps the violation from the API,
 * the metrics and the log.
 */
import { DaxmonError, errorLogFields } from '../errors.js';
import type { Logger } from 'pino';
import {
  DEFAULT_MAX_FILE_BYTES,
  DEFAULT_MAX_FILES,
  Journal,
  type FsyncPolicy,
  type JournalFs,
} from '../violations/journal.js';
import { DEFAULT_RETAIN_VIOLATIONS, ViolationStore } from '../violations/store.js';
import type { Violation, ViolationSink, ViolationUpdate } from '../violations/violation.js';

/** The journal (when there is one) and the store, restored from it. */
export interface ViolationRecords {
  journal: Journal | null;
  store: ViolationStore;
  /** The next violation id: a restart continues the journal's numbering, past any damaged record. */
  firstId: number;
}

/** How much history is kept (`--retain-violations`, `--journal-max-bytes`; docs/journal.md). */
export interface Retention {
  /** Violations the API serves, newest first (default 10,000). */
  retainViolations?: number | undefined;
  /** Bytes of journal files kept on disk, over DEFAULT_MAX_FILES rotated files (default 512 MiB). */
  journalMaxBytes?: number | undefined;
  /** The journal's file layer (tests inject failures). */
  fs?: JournalFs;
}

export const DEFAULT_JOURNAL_MAX_BYTES = DEFAULT_MAX_FILE_BYTES * DEFAULT_MAX_FILES;

/** Open the journal and restore its violations, so a restart serves the history again. */
export function openViolationRecords(
  dir: string | null,
  fsync: FsyncPolicy,
  log: Logger,
  retention: Retention = {},
): ViolationRecords {
  const store = new ViolationStore(retention.retainViolations ?? DEFAULT_RETAIN_VIOLATIONS);
  if (!dir) return { journal: null, store, firstId: 1 };
  const maxBytes = retention.journalMaxBytes ?? DEFAULT_JOURNAL_MAX_BYTES;
  const journal = new Journal({
    dir,
    fsync,
    maxFiles: DEFAULT_MAX_FILES,
    maxFileBytes: Math.max(4096, Math.floor(maxBytes / DEFAULT_MAX_FILES)),
    ...(retention.fs ? { fs: retention.fs } : {}),
    onWriteState: (s) => {
      if (s.failing) {
        const err = new DaxmonError(
          'DAXMON_E_JOURNAL_WRITE',
          `cannot write the violation journal in ${dir}: ${s.error?.code ?? 'error'}`,
          { cause: s.error },
        );
        log.error(
          { ...errorLogFields(err), dir, errno: s.error?.code, backlog: s.backlog },
          'violation journal cannot write: new violations are kept in memory and written when the disk takes them again',
        );
      } else
        log.info({ dir }, 'violation journal writing again; the violations kept in memory are journaled');
    },
    onDrop: (s) =>
      log.error(
        { dir, dropped: s.dropped },
        'violation journal backlog full: the oldest waiting records are dropped (daxmon_journal_dropped_records_total); a lost record marks them once the disk takes writes again',
      ),
    onReserveFailure: (err) =>
      log.error(
        { dir, errno: err.code },
        'violation journal cannot reserve ids in ids.reserve: ids handed out meanwhile may be handed out again after a restart',
      ),
  });
  const load = journal.open();
  store.load(load.violations);
  store.rotatedOut = load.rotatedOut;
  store.damagedRecords = load.damagedRecords;
  if (load.lostRecords)
    log.warn(
      { dir, lostRecords: load.lostRecords },
      'journal says records were lost to a full disk before: those updates are not in it',
    );
  if (load.damagedRecords || load.tornTail || load.missingRecords) {
    log.warn(
      {
        dir,
        damagedRecords: load.damagedRecords,
        corruptLines: load.corruptLines,
        missingRecords: load.missingRecords,
        tornTail: load.tornTail,
        nextId: `v${load.nextId}`,
      },
      'journal had damaged records; they were skipped, and their ids stay reserved',
    );
  }
  log.info(
    {
      dir,
      restored: load.violations.length,
      retained: store.size,
      olderOutsideWindow: store.window().olderOutsideWindow,
      files: load.files,
      legacyRecords: load.legacyRecords,
    },
    'journal opened',
  );
  return { journal, store, firstId: load.nextId };
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
