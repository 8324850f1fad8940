/**
 * `daxmon lab`: the VM lab from the command line. The lab itself (apt, qemu, initramfs) is its own
 * package, `@daxmon/lab` in lab/ of the repository, and is never installed on a DAX host: this file
 * only parses the options and imports the lab at run time. Nothing in the daemon imports the lab
 * statically (test/vmlab/boundary.test.ts holds it to that).
 */
import { parseArgs } from 'node:util';
import { DaxmonError } from '../errors.js';
import { PACKAGE_ROOT } from '../package-root.js';
import type { LabCommandRequest, LabEntry } from './lab-contract.js';

export type { LabCommandRequest, LabEntry } from './lab-contract.js';

/** The lab package's name; a variable so that tsc does not look for it when building the daemon. */
export const LAB_PACKAGE = '@daxmon/lab';

/** The Debian kernel series the lab boots (lab/src/kernels.ts KERNEL_SERIES). */
export const LAB_SERIES: readonly string[] = ['7', '6.12', '6.1'];

export type Importer = (specifier: string) => Promise<unknown>;

function isModuleNotFound(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

/**
 * Imports the lab. Missing (a daxmon installed from its package, or a checkout whose lab is not
 * built) is DAXMON_E_LAB_NOT_INSTALLED; any other failure of the lab's code is a bug and is rethrown.
 */
export async function loadLab(importer: Importer = (s) => import(s)): Promise<LabEntry> {
  let mod: unknown;
  try {
    mod = await importer(LAB_PACKAGE);
  } catch (err) {
    if (!isModuleNotFound(err)) throw err;
    throw new DaxmonError(
      'DAXMON_E_LAB_NOT_INSTALLED',
      `the VM lab (${LAB_PACKAGE}) is not installed with this daxmon: it ships only in the repository, not in the package a DAX host installs. Run "npm run lab" from a checkout of the daxmon repository (it builds the lab first; "npm run build:lab" builds it alone). (${(err as Error).message})`,
    );
  }
  if (typeof (mod as Partial<LabEntry> | undefined)?.runLabCommand !== 'function') {
    throw new DaxmonError(
      'DAXMON_E_LAB_NOT_INSTALLED',
      `${LAB_PACKAGE} does not export runLabCommand: its build is older than this daxmon; run "npm run lab" (it rebuilds both)`,
    );
  }
  return mod as LabEntry;
}

export function parseLabArgs(argv: string[], repoDir = PACKAGE_ROOT): LabCommandRequest {
  let v: Record<string, string | boolean | undefined>;
  try {
    v = parseArgs({
      args: argv,
      strict: true,
      options: {
        kernel: { type: 'string' },
        modules: { type: 'string' },
        config: { type: 'string' },
        'kernel-tree': { type: 'string' },
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
  const kernel = v.kernel as string | undefined;
  const tree = v['kernel-tree'] as string | undefined;
  for (const name of ['kernel', 'modules', 'config', 'kernel-tree'] as const) {
    if (v[name] === '')
      throw new DaxmonError('DAXMON_E_USAGE', `--${name} '' is empty: name a file or folder`);
  }
  // --kernel is a Debian series (7, 6.12, 6.1) or the path of an image the user built.
  const isSeries = kernel === undefined || LAB_SERIES.includes(kernel);
  if (tree !== undefined && kernel !== undefined) {
    throw new DaxmonError('DAXMON_E_USAGE', '--kernel-tree and --kernel name the kernel twice: give one');
  }
  if ((v.modules !== undefined || v.config !== undefined) && (isSeries || tree !== undefined)) {
    throw new DaxmonError(
      'DAXMON_E_USAGE',
      '--modules and --config go with --kernel IMAGE (a kernel you built); --kernel-tree finds both in the tree',
    );
  }
  const userKernel =
    tree !== undefined
      ? { tree }
      : !isSeries
        ? {
            image: kernel,
            ...(v.modules !== undefined ? { modules: v.modules as string } : {}),
            ...(v.config !== undefined ? { config: v.config as string } : {}),
          }
        : undefined;
  return {
    repoDir,
    series: isSeries ? (kernel ?? '7') : 'user',
    ...(userKernel ? { userKernel } : {}),
    fs,
    pmem,
    workload: !v['no-workload'],
    // Default (absent): run it when installed. --no-prometheus: never.
    ...(v['no-prometheus'] ? { prometheus: false as const } : {}),
    ...(duration !== undefined ? { durationMs: duration * 1000 } : {}),
    ...(guestPort !== undefined ? { guestPort } : {}),
  };
}

export async function runLabCli(argv: string[], importer?: Importer): Promise<number> {
  const req = parseLabArgs(argv);
  const lab = await loadLab(importer);
  return lab.runLabCommand(req);
}
