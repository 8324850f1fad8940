/**
 * Debian version ordering (deb-version(7)), so the newest kernel of a series is chosen the way apt
 * would choose it, e.g. `7.3.4-1~bpo13+1` < `7.3.4-1` and `6.1.192-2` > `6.1.176-1`.
 */

interface ParsedVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

export function parseDebVersion(version: string): ParsedVersion {
  let rest = version.trim();
  let epoch = 0;
  const colon = rest.indexOf(':');
  if (colon >= 0) {
    epoch = Number.parseInt(rest.slice(0, colon), 10) || 0;
    rest = rest.slice(colon + 1);
  }
  const dash = rest.lastIndexOf('-');
  if (dash >= 0) return { epoch, upstream: rest.slice(0, dash), revision: rest.slice(dash + 1) };
  return { epoch, upstream: rest, revision: '0' };
}

function charOrder(c: string | undefined): number {
  // '~' sorts before everything, even the end of the string; letters before non-letters.
  if (c === undefined) return 0;
  if (c === '~') return -1;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

function compareNonDigits(a: string, b: string): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = charOrder(a[i]) - charOrder(b[i]);
    if (d !== 0) return d;
  }
  return 0;
}

function compareFragment(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const aStart = i;
    while (i < a.length && !/[0-9]/.test(a[i] as string)) i++;
    const bStart = j;
    while (j < b.length && !/[0-9]/.test(b[j] as string)) j++;
    const d = compareNonDigits(a.slice(aStart, i), b.slice(bStart, j));
    if (d !== 0) return d;
    const aNumStart = i;
    while (i < a.length && /[0-9]/.test(a[i] as string)) i++;
    const bNumStart = j;
    while (j < b.length && /[0-9]/.test(b[j] as string)) j++;
    const an = BigInt(a.slice(aNumStart, i) || '0');
    const bn = BigInt(b.slice(bNumStart, j) || '0');
    if (an !== bn) return an < bn ? -1 : 1;
  }
  return 0;
}

/** Negative if a < b, 0 if equal, positive if a > b, as `dpkg --compare-versions` orders them. */
export function compareDebVersions(a: string, b: string): number {
  const pa = parseDebVersion(a);
  const pb = parseDebVersion(b);
  if (pa.epoch !== pb.epoch) return pa.epoch - pb.epoch;
  return compareFragment(pa.upstream, pb.upstream) || compareFragment(pa.revision, pb.revision);
}
