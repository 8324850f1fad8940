/**
 * The physical start of each ZONE_DEVICE candidate when daxmon is not root. sysfs `resource` of
 * pmem namespaces and dax devices is mode 0400 (pmem.ts), so an unprivileged daxmon sees every
 * candidate without a range and could discover no pgmap to scan. With the capability launcher
 * configured, `daxmon-scan --read-resource DEVICE…` (bpf/libbpf/scan.c) reads exactly those
 * attributes with CAP_DAC_READ_SEARCH and nothing else (docs/privileges.md).
 */
import path from 'node:path';
import { PACKAGE_ROOT } from '../package-root.js';
import { reason } from './errors.js';
import type { CommandRunner } from './exec.js';
import { helperCommand } from './launcher.js';
import type { PmemInventory } from './pmem.js';

/** Pure: `DEVICE VALUE` lines into a map; `DEVICE - ERRNO` lines (not read) are left out. */
export function parseResourceLines(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\S+) (0x[0-9a-fA-F]+)$/.exec(line.trim());
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

/** Pure: the inventory with the resources the helper read filled in where they were missing. */
export function withResources(inv: PmemInventory, values: ReadonlyMap<string, string>): PmemInventory {
  const fill = <T extends { resource: string | null }>(x: T, name: string): T =>
    x.resource === null && values.has(name) ? { ...x, resource: values.get(name)! } : x;
  return {
    ...inv,
    namespaces: inv.namespaces.map((n) => fill(n, n.name)),
    daxDevices: inv.daxDevices.map((d) => fill(d, d.name)),
    zoneDevice: inv.zoneDevice.map((c) => fill(c, c.device)),
  };
}

export interface PrivilegedResourceOptions {
  run: CommandRunner;
  launcher: string | null;
  /** Default <package>/bpf/build/daxmon-scan. */
  scanPath?: string;
  timeoutMs?: number;
}

/**
 * The candidates whose resource could not be read, read through the launcher. Without a launcher,
 * or when every range is known, the inventory is returned as it is.
 */
export async function fillResourcesPrivileged(
  inv: PmemInventory,
  o: PrivilegedResourceOptions,
): Promise<{ inventory: PmemInventory; reason?: string }> {
  const missing = inv.zoneDevice.filter((c) => c.resource === null).map((c) => c.device);
  if (o.launcher === null || missing.length === 0) return { inventory: inv };
  const bin = o.scanPath ?? path.join(PACKAGE_ROOT, 'bpf', 'build', 'daxmon-scan');
  const cmd = helperCommand(bin, ['--read-resource', ...missing], o.launcher);
  const r = await o.run(cmd.command, cmd.args, { timeoutMs: o.timeoutMs ?? 10_000 });
  const values = parseResourceLines(r.stdout);
  const inventory = withResources(inv, values);
  const still = missing.filter((d) => !values.has(d));
  if (still.length === 0) return { inventory };
  const stderr = r.stderr
    .split('\n')
    .find((l) => l.trim().length > 0)
    ?.trim();
  return {
    inventory,
    reason: reason(
      'DAXMON_E_CAPS_LAUNCHER',
      `the resource of ${still.join(', ')} could not be read through ${o.launcher} (${r.error ?? `exit ${r.exitCode}`}${stderr ? `: ${stderr}` : ''})`,
    ),
  };
}
