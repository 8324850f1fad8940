import { labOutcome, runLab } from './lab.js';

/** What `daxmon lab` hands the lab (the daemon's src/commands/lab.ts declares the same shape). */
export interface LabCommandOptions {
  repoDir: string;
  series: string;
  fs: 'ext4' | 'xfs';
  pmem: 'memmap' | 'nvdimm-fsdax';
  workload: boolean;
  prometheus?: false;
  durationMs?: number;
  guestPort?: number;
}

/** The lab's entry point for `daxmon lab`, imported at run time by the daemon's CLI. */
export async function runLabCommand(o: LabCommandOptions): Promise<number> {
  const r = await runLab({
    repoDir: o.repoDir,
    series: o.series,
    fs: o.fs,
    pmem: o.pmem,
    workload: o.workload,
    ...(o.prometheus === false ? { prometheus: false } : {}),
    ...(o.durationMs !== undefined ? { durationMs: o.durationMs } : {}),
    ...(o.guestPort !== undefined ? { guestPort: o.guestPort } : {}),
  });
  return labOutcome(r).exitStatus;
}
