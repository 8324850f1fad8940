/**
 * tracefs: where it is mounted and which trace events exist (`category:name`). daxmon needs
 * `fs_dax:*` (CONFIG_FS_DAX) and would use `page_ref:*` (CONFIG_DEBUG_PAGE_REF, off on Debian and
 * the development machines: docs/kernel-model.md §4.1).
 *
 * Only the `tracepoint` program type needs tracefs (its perf event is opened by the id in
 * events/<cat>/<name>/id); raw_tp and tp_btf attach by name without it. So an unmounted tracefs
 * is reported, not fatal.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { errnoOf, reason } from './errors.js';

export interface MountEntry {
  source: string;
  target: string;
  fstype: string;
  options: string;
}

/** `\040`-style octal escapes in /proc/mounts fields (a space in a mount point). */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Pure: parse /proc/mounts (or /proc/self/mounts). */
export function parseMounts(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 4) continue;
    out.push({
      source: unescapeMountField(f[0] as string),
      target: unescapeMountField(f[1] as string),
      fstype: f[2] as string,
      options: f[3] as string,
    });
  }
  return out;
}

/** Pure: `available_events` lines are already `category:name`. */
export function parseAvailableEvents(text: string): Set<string> {
  const out = new Set<string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.length > 0 && line.indexOf(':') > 0) out.add(line);
  }
  return out;
}

export interface TracefsRead {
  path: string | null;
  events: Set<string>;
  /** How the events were listed: the `available_events` file or a walk of `events/`. */
  via: 'available_events' | 'events_dir' | null;
  reason?: string;
}

/** events/ under a candidate root: there, absent (not mounted), or refused (mounted, root only). */
async function probeEventsDir(root: string): Promise<'ok' | 'absent' | string> {
  try {
    return (await stat(path.join(root, 'events'))).isDirectory() ? 'ok' : 'absent';
  } catch (err) {
    const code = errnoOf(err);
    // tracefs's root is mode 0700: a non-root reader gets EACCES on a mounted tracefs.
    return code === 'ENOENT' || code === 'ENOTDIR' ? 'absent' : code;
  }
}

export interface TracefsLocation {
  path: string;
  /** null when usable; else the errno that refused access (EACCES for non-root). */
  refused: string | null;
}

/**
 * Where tracefs is, best candidate first: tracefs mounts from /proc/self/mounts, then the two
 * standard places (debugfs auto-mounts tracefs under tracing/ on first access). A mounted but
 * unreadable tracefs is returned with `refused` set, so "not root" is not reported as "not
 * mounted".
 */
export async function findTracefs(procRoot = '/proc', sysRoot = '/sys'): Promise<TracefsLocation | null> {
  const mounted: string[] = [];
  try {
    const mounts = parseMounts(await readFile(path.join(procRoot, 'self', 'mounts'), 'utf8'));
    for (const m of mounts) if (m.fstype === 'tracefs') mounted.push(m.target);
  } catch {
    // No /proc/self/mounts (fixture trees, odd containers): the standard paths below still work.
  }
  const candidates = [
    ...mounted,
    path.join(sysRoot, 'kernel', 'tracing'),
    path.join(sysRoot, 'kernel', 'debug', 'tracing'),
  ];
  let refused: TracefsLocation | null = null;
  for (const c of candidates) {
    const state = await probeEventsDir(c);
    if (state === 'ok') return { path: c, refused: null };
    // An empty mount point (tracefs not mounted) has no events/ directory.
    if (state !== 'absent' && refused === null) refused = { path: c, refused: state };
  }
  if (refused !== null) return refused;
  // Listed as mounted but events/ is missing: report the mount rather than "not mounted".
  const first = mounted[0];
  return first === undefined ? null : { path: first, refused: 'no events/ directory' };
}

/** Walk events/<category>/<name>/ when available_events cannot be read. */
async function listEventsDir(root: string): Promise<Set<string>> {
  const events = new Set<string>();
  const eventsDir = path.join(root, 'events');
  const categories = await readdir(eventsDir, { withFileTypes: true });
  await Promise.all(
    categories
      .filter((c) => c.isDirectory())
      .map(async (c) => {
        const names = await readdir(path.join(eventsDir, c.name), { withFileTypes: true });
        for (const n of names) if (n.isDirectory()) events.add(`${c.name}:${n.name}`);
      }),
  );
  return events;
}

/** Find tracefs and list its events. Never throws. */
export async function readTracefs(procRoot = '/proc', sysRoot = '/sys'): Promise<TracefsRead> {
  const found = await findTracefs(procRoot, sysRoot);
  if (found === null) {
    return {
      path: null,
      events: new Set(),
      via: null,
      reason: reason(
        'DAXMON_E_TRACEFS_NOT_MOUNTED',
        'tracefs is not mounted, so tracepoint probes cannot be attached (raw_tp/tp_btf still can); ' +
          'mount it with `mount -t tracefs nodev /sys/kernel/tracing`',
      ),
    };
  }
  const root = found.path;
  if (found.refused !== null) {
    return {
      path: root,
      events: new Set(),
      via: null,
      reason: reason(
        'DAXMON_E_TRACEFS_UNREADABLE',
        `tracefs at ${root} cannot be read (${found.refused}); it is root-only: run as root to list trace events`,
      ),
    };
  }
  try {
    const text = await readFile(path.join(root, 'available_events'), 'utf8');
    return { path: root, events: parseAvailableEvents(text), via: 'available_events' };
  } catch (first) {
    try {
      return { path: root, events: await listEventsDir(root), via: 'events_dir' };
    } catch (err) {
      return {
        path: root,
        events: new Set(),
        via: null,
        reason: reason(
          'DAXMON_E_TRACEFS_UNREADABLE',
          `cannot list trace events under ${root} (${errnoOf(first)}, ${errnoOf(err)}); run as root`,
        ),
      };
    }
  }
}
