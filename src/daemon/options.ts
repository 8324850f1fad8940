/** What `daxmon run` and `daxmon record` are asked to do, as src/cli.ts parsed it from the flags. */
import type { DestinationStream } from 'pino';
import type { CheckConfig } from '../checks/types.js';
import type { RecordingFormat } from '../events/recording.js';
import type { BackendName, RefcountModel } from '../events/types.js';
import type { KernelFacts } from '../kernel/facts.js';
import type { Backend } from '../probes/backend.js';
import type { BackendChoice } from '../probes/select.js';
import type { ScanConfig } from '../scan/service.js';
import type { Writable } from 'node:stream';
import type { Confirmer } from '../pipeline.js';
import type { FsyncPolicy, JournalFs } from '../violations/journal.js';

export interface DaemonOptions {
  /** null: no HTTP server (record without --listen). */
  listen: { host: string; port: number } | null;
  backend: BackendChoice;
  strict: boolean;
  model?: RefcountModel | undefined;
  journalDir: string | null;
  fsync: FsyncPolicy;
  /** Violations the API serves after a restart and since (default 10,000; docs/journal.md). */
  retainViolations?: number | undefined;
  /** Journal bytes kept on disk, in 8 rotated files (default 512 MiB; docs/journal.md). */
  journalMaxBytes?: number | undefined;
  /** The journal's file layer instead of node:fs (tests: ENOSPC, EACCES). */
  journalFs?: JournalFs;
  logLevel: string;
  /** Write the live event stream here. */
  recordPath?: string | undefined;
  /** Default: binary for a .dxb path, else NDJSON. */
  recordFormat?: RecordingFormat | undefined;
  /** Bytes the recorder holds for a slow file before it drops events (default 32 MiB). */
  recordBufferBytes?: number | undefined;
  /** Where the recording goes instead of recordPath (tests: a slow stream). */
  recordStream?: Writable;
  apiTokenFile?: string | undefined;
  checkConfig: Partial<CheckConfig>;
  maxFolios?: number | undefined;
  /** Stop by itself after this many seconds. */
  durationSeconds?: number | undefined;
  /** Skip sysfs pgmap discovery (tests). */
  discover?: boolean;
  /** Facts to use instead of reading the host (tests). */
  facts?: KernelFacts;
  /** Struct-page scanning (docs/scan.md); undefined or interval 0: off. */
  scan?: ScanConfig | undefined;
  /** The backends to choose from instead of the ones daxmon ships (tests). */
  backendCatalog?: Partial<Record<BackendName, Backend>>;
  /** Where the log goes instead of stderr (tests). */
  logDestination?: DestinationStream;
  /** Asks the kernel about busy_wait_stuck candidates instead of reading /proc (tests). */
  confirmer?: Confirmer;
  /** The clock of the time-based checks' ticks instead of CLOCK_MONOTONIC (tests). */
  clock?: () => number;
  /** Milliseconds between the daemon's clock ticks (default 1000; tests go faster). */
  tickIntervalMs?: number;
}
