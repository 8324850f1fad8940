/**
 * The kernel's build configuration: /proc/config.gz (CONFIG_IKCONFIG_PROC),
 * /boot/config-$(uname -r) (Debian and most distributions) or /lib/modules/$(uname -r)/config
 * (Fedora ships it there too). daxmon reads it for capability
 * hints: KPROBES (kprobe backend), DEBUG_PAGE_REF (page_ref:* events), DEBUG_INFO_BTF(_MODULES),
 * FS_DAX, ZONE_DEVICE, NVDIMM_PFN and DEV_DAX (docs/kernel-model.md §6 step 4).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { errnoOf, reason } from './errors.js';

const gunzipAsync = promisify(gunzip);

/**
 * Pure: parse a Kconfig .config. Keys lose the `CONFIG_` prefix. `# CONFIG_X is not set` becomes
 * `X → 'n'`, so "explicitly off" differs from "unknown to this kernel" (absent). String values
 * are unquoted.
 */
export function parseKernelConfig(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('CONFIG_')) {
      const eq = line.indexOf('=');
      if (eq < 0) continue;
      let value = line.slice(eq + 1);
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
        value = value.slice(1, -1).replace(/\\(["\\])/g, '$1');
      }
      out.set(line.slice('CONFIG_'.length, eq), value);
    } else {
      const m = /^# CONFIG_(\w+) is not set$/.exec(line);
      if (m) out.set(m[1] as string, 'n');
    }
  }
  return out;
}

/** Is the option built in or a module (`y`/`m`)? */
export function configEnabled(config: ReadonlyMap<string, string> | null, key: string): boolean | null {
  if (config === null) return null;
  const v = config.get(key);
  return v === 'y' || v === 'm';
}

export interface ConfigRead {
  config: Map<string, string> | null;
  /** The file it came from. */
  source: string | null;
  reason?: string;
}

/**
 * /proc/config.gz first (it is the running kernel's by construction), then /boot, then
 * /lib/modules. Never throws.
 */
export async function readKernelConfig(
  release: string,
  procRoot = '/proc',
  bootRoot = '/boot',
  modulesRoot = '/lib/modules',
): Promise<ConfigRead> {
  const procFile = path.join(procRoot, 'config.gz');
  const tried: string[] = [];
  try {
    const text = (await gunzipAsync(await readFile(procFile))).toString('utf8');
    return { config: parseKernelConfig(text), source: procFile };
  } catch (err) {
    tried.push(`${procFile}: ${errnoOf(err)}`);
  }
  for (const file of [path.join(bootRoot, `config-${release}`), path.join(modulesRoot, release, 'config')]) {
    try {
      return { config: parseKernelConfig(await readFile(file, 'utf8')), source: file };
    } catch (err) {
      tried.push(`${file}: ${errnoOf(err)}`);
    }
  }
  return {
    config: null,
    source: null,
    reason: reason(
      'DAXMON_E_CONFIG_UNREADABLE',
      `no kernel config found (${tried.join('; ')}); capability hints such as KPROBES and ` +
        'DEBUG_PAGE_REF are unknown. `modprobe configs` provides /proc/config.gz on kernels that build it as a module',
    ),
  };
}
