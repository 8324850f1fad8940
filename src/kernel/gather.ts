/**
 * Assemble `KernelFacts` from every reader. The readers are independent, so they run in
 * parallel; each one's failure becomes a reason string in `facts.problems` (and its section is
 * left at "unknown"), never an exception: doctor must print whatever could be read.
 */
import type { RefcountModel } from '../events/types.js';
import { readBtf } from './btf.js';
import type { BtfRead } from './btf.js';
import { readKernelConfig } from './config.js';
import type { ConfigRead } from './config.js';
import { reason } from './errors.js';
import type { CommandRunner, RunResult } from './exec.js';
import { execaRunner } from './exec.js';
import type { KernelFacts, ProgType, ProgTypeResult } from './facts.js';
import { PROG_TYPES } from './facts.js';
import { readKallsyms } from './kallsyms.js';
import type { KallsymsRead } from './kallsyms.js';
import { decideModel } from './model.js';
import { readPmemInventory } from './pmem.js';
import { fillResourcesPrivileged } from './pmem-resources.js';
import { capsLauncher, launcherProblem } from './launcher.js';
import type { PmemInventory } from './pmem.js';
import { explainRefusals, probeProgTypes } from './progtypes.js';
import type { ProgTypesRead } from './progtypes.js';
import { readRelease } from './release.js';
import { readToolVersions } from './tools.js';
import type { ToolVersions } from './tools.js';
import { readTracefs } from './tracefs.js';
import type { TracefsRead } from './tracefs.js';

export interface GatherOptions {
  /** Default /proc. Tests point these at fixture trees. */
  procRoot?: string;
  /** Default /sys. */
  sysRoot?: string;
  /** Default /boot. */
  bootRoot?: string;
  /** Default /dev. */
  devRoot?: string;
  /** Default /lib/modules (a kernel config may be at <modulesRoot>/<release>/config). */
  modulesRoot?: string;
  /** Default <procRoot>/sys/kernel/osrelease, else `os.release()`. */
  release?: string;
  /** `--model old|new`: overrides detection (the detected answer stays in the evidence). */
  model?: RefcountModel | undefined;
  /** Default <package>/bpf/build/daxmon-bpfcheck. */
  bpfcheckPath?: string;
  /** Run daxmon-bpfcheck (default true). `false` leaves every type `loads: null`. */
  progTypes?: boolean;
  /** Ask bpftrace/clang/libbpf/bpftool for versions (default true). */
  tools?: boolean;
  /** Read the pmem inventory (default true). */
  pmem?: boolean;
  /** Command runner for the checker and tool versions (tests inject canned output). */
  run?: CommandRunner;
  /** Skip the CAP_BPF check before running the checker (tests with a fake checker). */
  assumePrivileged?: boolean;
  /** The capability launcher (default: $DAXMON_CAPS_LAUNCHER; null: none). docs/privileges.md */
  launcher?: string | null;
}

/** A runner that cannot throw, whatever the injected one does. */
function safeRunner(run: CommandRunner): CommandRunner {
  return async (command, args, opts): Promise<RunResult> => {
    try {
      return await run(command, args, opts);
    } catch (err) {
      return {
        exitCode: null,
        stdout: '',
        stderr: '',
        error: err instanceof Error ? err.message : String(err),
      };
    }
  };
}

async function settle<T>(label: string, p: Promise<T>, fallback: T, problems: string[]): Promise<T> {
  try {
    return await p;
  } catch (err) {
    // Readers catch their own expected failures; reaching here is a bug, kept visible but not fatal.
    problems.push(
      reason(
        'DAXMON_E_DOCTOR_INTERNAL',
        `${label} reader failed unexpectedly: ${err instanceof Error ? err.message : String(err)}`,
      ),
    );
    return fallback;
  }
}

function allUntested(detail: string): Record<ProgType, ProgTypeResult> {
  const out = {} as Record<ProgType, ProgTypeResult>;
  for (const t of PROG_TYPES) out[t] = { loads: null, detail };
  return out;
}

export async function gatherKernelFacts(opts: GatherOptions = {}): Promise<KernelFacts> {
  const procRoot = opts.procRoot ?? '/proc';
  const sysRoot = opts.sysRoot ?? '/sys';
  const bootRoot = opts.bootRoot ?? '/boot';
  const devRoot = opts.devRoot ?? '/dev';
  const modulesRoot = opts.modulesRoot ?? '/lib/modules';
  const release = opts.release ?? readRelease(procRoot);
  const run = safeRunner(opts.run ?? execaRunner);
  const problems: string[] = [];
  const launcher = opts.launcher === undefined ? capsLauncher() : opts.launcher;
  const launcherWhy = await launcherProblem(launcher);
  if (launcherWhy !== undefined) problems.push(launcherWhy);

  const unreadable = (what: string): string => reason('DAXMON_E_DOCTOR_INTERNAL', `${what} not read`);
  const [kallsyms, btf, tracefs, config, progTypes, pmem, tools] = await Promise.all([
    settle<KallsymsRead>(
      'kallsyms',
      readKallsyms(procRoot),
      { readable: false, path: `${procRoot}/kallsyms`, reason: unreadable('kallsyms') },
      problems,
    ),
    settle<BtfRead>(
      'btf',
      readBtf(sysRoot),
      { vmlinux: false, path: `${sysRoot}/kernel/btf/vmlinux`, facts: null, reason: unreadable('BTF') },
      problems,
    ),
    settle<TracefsRead>(
      'tracefs',
      readTracefs(procRoot, sysRoot),
      { path: null, events: new Set(), via: null, reason: unreadable('tracefs') },
      problems,
    ),
    settle<ConfigRead>(
      'config',
      readKernelConfig(release, procRoot, bootRoot, modulesRoot),
      { config: null, source: null, reason: unreadable('kernel config') },
      problems,
    ),
    opts.progTypes === false
      ? Promise.resolve<ProgTypesRead>({ results: allUntested('program-type check skipped') })
      : settle<ProgTypesRead>(
          'progtypes',
          probeProgTypes({
            run,
            procRoot,
            ...(opts.bpfcheckPath !== undefined ? { bpfcheckPath: opts.bpfcheckPath } : {}),
            ...(opts.assumePrivileged !== undefined ? { assumePrivileged: opts.assumePrivileged } : {}),
            launcher,
          }),
          { results: allUntested('program-type check failed') },
          problems,
        ),
    opts.pmem === false
      ? Promise.resolve(undefined)
      : settle<PmemInventory | undefined>(
          'pmem',
          readPmemInventory({ sysRoot, procRoot, devRoot }).then(async (inv) => {
            const filled = await fillResourcesPrivileged(inv, { run, launcher });
            if (filled.reason !== undefined) problems.push(filled.reason);
            return filled.inventory;
          }),
          undefined,
          problems,
        ),
    opts.tools === false
      ? Promise.resolve(undefined)
      : settle<ToolVersions | undefined>('tools', readToolVersions({ run }), undefined, problems),
  ]);

  for (const r of [
    kallsyms.readable ? undefined : kallsyms.reason,
    btf.reason,
    tracefs.reason,
    config.reason,
  ]) {
    if (r !== undefined) problems.push(r);
  }
  if (progTypes.reason !== undefined) problems.push(progTypes.reason);
  if (pmem?.iomem.reason !== undefined) problems.push(`/proc/iomem unreadable: ${pmem.iomem.reason}`);

  const kallsymsFacts: KernelFacts['kallsyms'] = kallsyms.readable
    ? {
        readable: true,
        functions: kallsyms.functions,
        modules: kallsyms.modules,
        addressesHidden: kallsyms.addressesHidden,
      }
    : { readable: false, functions: new Set(), reason: kallsyms.reason };

  const facts: KernelFacts = {
    release,
    model: decideModel({ release, kallsyms: kallsymsFacts, btf: btf.facts, override: opts.model }),
    btf: {
      vmlinux: btf.vmlinux,
      path: btf.path,
      types: btf.facts,
      ...(btf.reason !== undefined ? { reason: btf.reason } : {}),
    },
    kallsyms: kallsymsFacts,
    tracefs: {
      path: tracefs.path,
      events: tracefs.events,
      ...(tracefs.reason !== undefined ? { reason: tracefs.reason } : {}),
    },
    progTypes: explainRefusals(progTypes.results, {
      tracefsMounted: tracefs.path !== null,
      config: config.config,
    }),
    config: config.config,
    configSource: config.source,
    problems,
  };
  if (pmem !== undefined) facts.pmem = pmem;
  if (tools !== undefined) facts.tools = tools;
  return facts;
}
