/**
 * Runs Debian's promtool for the dashboard tests. A missing promtool fails the test with what to
 * install: these checks are the only thing proving the alert rules work, so they must never skip.
 */
import { execa } from 'execa';

export interface PromtoolResult {
  readonly exitCode: number;
  readonly output: string;
}

export const PROMTOOL_MISSING =
  'promtool not found on PATH. Install Debian\'s "prometheus" package (apt-get install prometheus; it is in scripts/apt-packages.txt) to run the alert rule tests.';

export async function promtool(
  args: readonly string[],
  cwd: string,
  bin = 'promtool',
): Promise<PromtoolResult> {
  const r = await execa(bin, args, { cwd, reject: false, all: true });
  if ('code' in r && r.code === 'ENOENT') throw new Error(PROMTOOL_MISSING);
  return { exitCode: r.exitCode ?? -1, output: String(r.all ?? '') };
}
