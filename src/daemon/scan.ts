/**
 * The struct-page scanner (docs/scan.md): `daxmon-scan` is a privileged sibling binary, so it
 * runs only when it was built and either daxmon is root or the capability launcher is configured
 * (docs/privileges.md: the scanner then gets CAP_BPF, CAP_PERFMON and CAP_SYSLOG, daxmon none);
 * otherwise the daemon says why and runs without.
 */
import { errorLogFields } from '../errors.js';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { monotonicNs } from '../clock.js';
import type { DaxEvent, RefcountModel } from '../events/types.js';
import { capsLauncher, helperCommand, LAUNCHER_ENV } from '../kernel/launcher.js';
import { PACKAGE_ROOT } from '../package-root.js';
import { Scanner } from '../scan/scanner.js';
import { ScanService, type ScanConfig } from '../scan/service.js';
import type { DaxState } from '../state/state.js';

export interface StructPageScanOptions {
  config: ScanConfig | undefined;
  state: DaxState;
  model: RefcountModel;
  ingest: (e: DaxEvent) => void;
  /** Told each scan's duration (daxmon_scan_duration_seconds). */
  scanDone: (seconds: number) => void;
  log: Logger;
  /** The capability launcher (default: $DAXMON_CAPS_LAUNCHER; null: spawn daxmon-scan directly). */
  launcher?: string | null;
}

/** The scan service, or undefined when scans are off or cannot run here. */
export function structPageScan(o: StructPageScanOptions): ScanService | undefined {
  if (!o.config || o.config.intervalSeconds <= 0) return undefined;
  const bin = path.join(PACKAGE_ROOT, 'bpf', 'build', 'daxmon-scan');
  if (!fs.existsSync(bin)) {
    o.log.warn({ bin }, 'struct-page scanner not built (npm run build:bpf): no scans');
    return undefined;
  }
  const launcher = o.launcher === undefined ? capsLauncher() : o.launcher;
  if (launcher === null && process.getuid?.() !== 0) {
    o.log.warn(
      { code: 'DAXMON_E_CAPS_LAUNCHER' },
      `struct-page scanner needs root, or ${LAUNCHER_ENV} (scripts/install-caps.sh, docs/privileges.md): no scans`,
    );
    return undefined;
  }
  const cmd = helperCommand(bin, [], launcher);
  const scan: ScanService = new ScanService({
    state: o.state,
    model: o.model,
    scanner: new Scanner(cmd.command, cmd.args),
    config: o.config,
    ingest: o.ingest,
    nowNs: monotonicNs,
    onScanDone: (seconds) => {
      o.scanDone(seconds);
      o.log.info({ seconds, pages: scan.stats.pagesTotal, drift: scan.stats.drift }, 'struct-page scan done');
    },
    onError: (err) => o.log.warn(errorLogFields(err), 'struct-page scan failed'),
  });
  return scan;
}
