/** `daxmon lab`: wired to src/vmlab once the lab runner lands. */
import { DaxmonError } from '../errors.js';

export async function runLabCli(_argv: string[]): Promise<number> {
  throw new DaxmonError(
    'DAXMON_E_LAB_UNAVAILABLE',
    'the VM lab is not wired into this build yet; see docs/vm-lab.md',
  );
}
