/**
 * Pure: the kconfig fragment a developer merges into their kernel config
 * (`scripts/kconfig/merge_config.sh .config daxmon.config`, then `make olddefconfig`), and the
 * check of a parsed config against the catalogue (src/kernel/kconfig-options.ts).
 */
import type { KconfigNeed, KconfigOption, KconfigScope } from './kconfig-options.js';
import { KCONFIG_SCOPES, kconfigOptions } from './kconfig-options.js';

export interface FragmentOptions {
  scopes?: readonly KconfigScope[];
  needs?: readonly KconfigNeed[];
}

const SCOPE_TITLE: Record<KconfigScope, string> = {
  daxmon: 'daxmon (the monitor)',
  pmem: 'pmem with struct pages (FS DAX on a namespace, device-dax)',
  lab: 'daxmon lab (qemu, memmap= pmem, the host root over 9p)',
};

/**
 * The fragment: `CONFIG_X=y` lines grouped by scope and need, each under a comment saying why and,
 * for recommended options, what it costs. merge_config.sh ignores comment lines.
 */
export function renderKconfigFragment(opts: FragmentOptions = {}): string {
  const scopes = opts.scopes ?? KCONFIG_SCOPES;
  const needs = opts.needs ?? (['required', 'recommended'] as const);
  const L: string[] = [
    '# daxmon kernel config fragment (generated from src/kernel/kconfig-options.ts by `daxmon kconfig`).',
    '# Merge it:   scripts/kconfig/merge_config.sh -m .config daxmon.config && make olddefconfig',
    '# A module (=m) is enough where the fragment says m; =y always satisfies it.',
    '# Why each option and what Debian ships: docs/kernel-model.md §14.',
  ];
  for (const scope of scopes) {
    for (const need of needs) {
      const group = kconfigOptions({ scopes: [scope], needs: [need] });
      if (group.length === 0) continue;
      L.push('', `# ---- ${SCOPE_TITLE[scope]}: ${need} ----`);
      for (const o of group) {
        L.push(`# ${o.why}`);
        if (need === 'recommended') L.push(`#   cost: ${o.cost}`);
        L.push(`CONFIG_${o.key}=${o.value}`);
      }
    }
  }
  return L.join('\n') + '\n';
}

export interface KconfigGap {
  option: KconfigOption;
  /** What the config says: 'n' (explicitly off), a value that is not enough, or null (absent). */
  found: string | null;
}

/** Is a config value enough for the option? `y` satisfies `m`; `m` does not satisfy `y`. */
export function satisfies(option: KconfigOption, value: string | undefined): boolean {
  if (value === 'y') return true;
  return option.value === 'm' && value === 'm';
}

/** Pure: the options of the selection a parsed config (src/kernel/config.ts) lacks. */
export function kconfigGaps(config: ReadonlyMap<string, string>, opts: FragmentOptions = {}): KconfigGap[] {
  const scopes = opts.scopes ?? KCONFIG_SCOPES;
  const needs = opts.needs ?? (['required', 'recommended'] as const);
  return kconfigOptions({ scopes, needs })
    .filter((o) => !satisfies(o, config.get(o.key)))
    .map((o) => ({ option: o, found: config.get(o.key) ?? null }));
}
