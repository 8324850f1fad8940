/**
 * `daxmon lab`: the VM lab from the command line. Boots Debian's new-model kernel (or another
 * series) under qemu with pmem, runs daxmon and a looping DAX workload inside, forwards daxmon's
 * port and prints the URLs; Ctrl-C stops daxmon and the guest. The work is in src/vmlab/lab.ts.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DaxmonError } from '../errors.js';
import { runLab } from '../../lab/src/lab.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export async function runLabCli(argv: string[]): Promise<number> {
  let v: Record<string, string | boolean | undefined>;
  try {
    v = parseArgs({
      args: argv,
      strict: true,
      options: {
        kernel: { type: 'string' },
        fs: { type: 'string' },
        pmem: { type: 'string' },
        'no-workload': { type: 'boolean' },
        'no-prometheus': { type: 'boolean' },
        duration: { type: 'string' },
        'guest-port': { type: 'string' },
      },
    }).values;
  } catch (err) {
    throw new DaxmonError('DAXMON_E_USAGE', `${(err as Error).message}\nRun "daxmon lab --help" for usage.`);
  }
  const fs = v.fs ?? 'ext4';
  if (fs !== 'ext4' && fs !== 'xfs')
    throw new DaxmonError('DAXMON_E_USAGE', `--fs must be ext4 or xfs, got "${String(fs)}"`);
  const pmem = v.pmem ?? 'memmap';
  if (pmem !== 'memmap' && pmem !== 'nvdimm-fsdax') {
    throw new DaxmonError('DAXMON_E_USAGE', `--pmem must be memmap or nvdimm-fsdax, got "${String(pmem)}"`);
  }
  const duration = v.duration === undefined ? undefined : Number(v.duration);
  if (duration !== undefined && !(duration > 0)) {
    throw new DaxmonError(
      'DAXMON_E_USAGE',
      `--duration must be a positive number of seconds, got "${String(v.duration)}"`,
    );
  }
  const guestPort = v['guest-port'] === undefined ? undefined : Number(v['guest-port']);
  if (guestPort !== undefined && !(Number.isInteger(guestPort) && guestPort > 0 && guestPort < 65536)) {
    throw new DaxmonError(
      'DAXMON_E_USAGE',
      `--guest-port must be a port number, got "${String(v['guest-port'])}"`,
    );
  }
  const r = await runLab({
    repoDir: REPO,
    series: (v.kernel as string | undefined) ?? '7',
    fs,
    pmem,
    workload: !v['no-workload'],
    // Default (undefined): run it when installed. --no-prometheus: never.
    ...(v['no-prometheus'] ? { prometheus: false } : {}),
    ...(duration !== undefined ? { durationMs: duration * 1000 } : {}),
    ...(guestPort !== undefined ? { guestPort } : {}),
  });
  return r.metricsServed ? 0 : 1;
}
