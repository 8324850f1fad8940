/**
 * Module load order from modules.dep. busybox `insmod` does not resolve dependencies, so the
 * initramfs lists every module after the ones it needs.
 */

export type ModulesDep = Map<string, string[]>;

/** Parses `kernel/fs/xfs/xfs.ko.xz: kernel/lib/libcrc32c.ko.xz ...` lines. */
export function parseModulesDep(text: string): ModulesDep {
  const dep: ModulesDep = new Map();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const mod = line.slice(0, colon).trim();
    const deps = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .filter((d) => d.length > 0);
    dep.set(mod, deps);
  }
  return dep;
}

/** `kernel/fs/9p/9p.ko.zst` → `9p`. Module names treat `-` and `_` alike. */
export function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

export interface ModuleOrder {
  /** Paths relative to the modules dir, dependencies first. */
  order: string[];
  /** Wanted names with no .ko: built into the kernel, or absent from this build. */
  notModules: string[];
}

/**
 * Depth-first walk of modules.dep from each wanted module. modules.dep already lists the full
 * transitive closure per module, but in an order that is not guaranteed to be load order, so each
 * dependency is walked recursively before its dependant is appended.
 */
export function moduleLoadOrder(dep: ModulesDep, wanted: readonly string[]): ModuleOrder {
  const byName = new Map<string, string>();
  for (const path of dep.keys()) byName.set(moduleName(path), path);
  const order: string[] = [];
  const seen = new Set<string>();
  const visiting = new Set<string>();
  const visit = (path: string): void => {
    if (seen.has(path) || visiting.has(path)) return;
    visiting.add(path);
    for (const d of dep.get(path) ?? []) visit(d);
    visiting.delete(path);
    seen.add(path);
    order.push(path);
  };
  const notModules: string[] = [];
  for (const w of wanted) {
    const path = byName.get(w.replace(/-/g, '_'));
    if (path) visit(path);
    else notModules.push(w);
  }
  return { order, notModules };
}
