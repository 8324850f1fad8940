/**
 * The contract between `daxmon lab` (src/commands/lab.ts, in the daemon) and the lab package
 * (lab/src/command.ts): types only, so that the lab can import it without pulling in the daemon,
 * and the daemon never imports the lab.
 */

/** What `daxmon lab` asks of the lab: its `runLabCommand` takes these and returns the exit status. */
export interface LabCommandRequest {
  repoDir: string;
  series: string;
  /** A kernel the user built: an image (with its modules and config) or a build tree. */
  userKernel?: { image: string; modules?: string; config?: string } | { tree: string };
  fs: 'ext4' | 'xfs';
  pmem: 'memmap' | 'nvdimm-fsdax';
  workload: boolean;
  prometheus?: false;
  durationMs?: number;
  guestPort?: number;
}

/** The lab package as the daemon sees it (the lab's index.ts must satisfy this; typechecked). */
export interface LabEntry {
  runLabCommand(req: LabCommandRequest): Promise<number>;
}
