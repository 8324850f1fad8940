/** What `daxmon run` and `daxmon record` are asked to do, as src/cli.ts parsed it from the flags. */
import type { DestinationStream } from 'pino';
import type { CheckConfig } from '../checks/types.js';
import type { RecordingFormat } from '../events/recording.js';
import type { BackendName, RefcountModel } from '../events/types.js';
import type { KernelFacts } from '../kernel/facts.js';
import type { Backend } from '../probes/backend.js';
import type { BackendChoice } from '../probes/select.js';
import type { ScanConfig } from '../scan/service.js';
import type { FsyncPolicy } from '../violations/journal.js';

export interface DaemonOptions {
  /** null: no HTTP server (record without --listen). */
  listen: { host: string; port: number } | null;
  backend: BackendChoice;
  strict: boolean;
  model?: RefcountModel | undefined;
  journalDir: string | null;
  fsync: FsyncPolicy;
  logLevel: string;
  /** Write the live event stream here. */
  recordPath?: string | undefined;
  /** Default: binary for a .dxb path, else NDJSON. */
  recordFormat?: RecordingFormat | undefined;
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
}
