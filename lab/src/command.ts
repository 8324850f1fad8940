import type { LabCommandRequest } from '../../src/commands/lab-contract.js';
import { labOutcome, runLab } from './lab.js';

/** What `daxmon lab` hands the lab: the daemon's own declaration of the contract. */
export type LabCommandOptions = LabCommandRequest;

/** The lab's entry point for `daxmon lab`, imported at run time by the daemon's CLI. */
export async function runLabCommand(o: LabCommandOptions): Promise<number> {
  const r = await runLab({
    repoDir: o.repoDir,
    series: o.series,
    ...(o.userKernel ? { userKernel: o.userKernel } : {}),
    fs: o.fs,
    pmem: o.pmem,
    workload: o.workload,
    ...(o.prometheus === false ? { prometheus: false } : {}),
    ...(o.durationMs !== undefined ? { durationMs: o.durationMs } : {}),
    ...(o.guestPort !== undefined ? { guestPort: o.guestPort } : {}),
  });
  return labOutcome(r).exitStatus;
}
