import { compareDebVersions } from './debversion.js';

/** One stanza of `apt-cache show` output, keyed by field name. */
export type AptStanza = Record<string, string>;

export function parseAptStanzas(text: string): AptStanza[] {
  const out: AptStanza[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const stanza: AptStanza = {};
    let last: string | undefined;
    for (const line of block.split('\n')) {
      if (/^\s/.test(line) && last) {
        stanza[last] += `\n${line.trim()}`;
        continue;
      }
      const m = /^([A-Za-z0-9-]+):\s?(.*)$/.exec(line);
      if (m) {
        last = m[1] as string;
        stanza[last] = m[2] as string;
      }
    }
    if (Object.keys(stanza).length > 0) out.push(stanza);
  }
  return out;
}

/** Package names in a Depends field, without version constraints or alternatives beyond the first. */
export function dependsNames(depends: string | undefined): string[] {
  if (!depends) return [];
  return depends
    .split(',')
    .map((d) => (d.split('|')[0] ?? '').trim().split(/[\s(]/)[0] ?? '')
    .filter((n) => n.length > 0);
}

export interface MetaChoice {
  /** Version of the meta package, e.g. `7.3.4-1~bpo13+1`. */
  version: string;
  /** The versioned image package it names, e.g. `linux-image-7.3.4+deb13-amd64`. */
  imagePackage: string;
}

/**
 * Picks the newest `linux-image-amd64` whose upstream version belongs to the series (`7` matches
 * 7.x, `6.12` matches 6.12.x). The meta package is what Debian moves on every kernel update, so
 * following it finds the current ABI name without guessing (`6.1.0-56` does not contain `6.1.192`).
 */
export function pickNewestMeta(stanzas: readonly AptStanza[], series: string): MetaChoice | undefined {
  const seriesRe = new RegExp(`^(\\d+:)?${series.replace(/\./g, '\\.')}(\\.|-|$)`);
  let best: MetaChoice | undefined;
  for (const s of stanzas) {
    if (s.Package !== 'linux-image-amd64' || !s.Version) continue;
    if (!seriesRe.test(s.Version)) continue;
    const image = dependsNames(s.Depends).find((n) => /^linux-image-\d/.test(n));
    if (!image) continue;
    if (!best || compareDebVersions(s.Version, best.version) > 0) {
      best = { version: s.Version, imagePackage: image };
    }
  }
  return best;
}

/**
 * The packages that carry vmlinuz and the modules. From 7.x on, Debian splits the image package into
 * `linux-binary-*` (vmlinuz) and `linux-modules-*`, with `linux-image-*` an empty meta package.
 */
export function payloadPackages(imageStanza: AptStanza): string[] {
  const deps = dependsNames(imageStanza.Depends);
  const split = deps.filter((d) => /^linux-(binary|modules)-\d/.test(d));
  if (split.length > 0) return split;
  const name = imageStanza.Package;
  return name ? [name] : [];
}

/** `linux-image-6.1.0-56-amd64` → `6.1.0-56-amd64`, the guest's `uname -r`. */
export function releaseFromImagePackage(imagePackage: string): string {
  return imagePackage.replace(/^linux-image-/, '').replace(/-unsigned$/, '');
}
