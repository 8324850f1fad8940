import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findTracefs, parseAvailableEvents, parseMounts, readTracefs } from '../../src/kernel/tracefs.js';
import { fixture } from './helpers/fixtures.js';

const NO_PROC = '/nonexistent-daxmon-proc';

describe('tracefs', () => {
  it('parses /proc/mounts, including \\040-escaped spaces', () => {
    const m = parseMounts(
      'tracefs /sys/kernel/tracing tracefs rw,nosuid 0 0\nnone /mnt/my\\040trace tracefs rw 0 0\n',
    );
    expect(m.map((e) => e.target)).toEqual(['/sys/kernel/tracing', '/mnt/my trace']);
    expect(m[0]?.fstype).toBe('tracefs');
  });

  it('parses available_events into category:name', () => {
    expect([...parseAvailableEvents('fs_dax:dax_pte_fault\n\nsched:sched_switch\ngarbage\n')]).toEqual([
      'fs_dax:dax_pte_fault',
      'sched:sched_switch',
    ]);
  });

  it('lists fs_dax:* and page_ref:* from /sys/kernel/tracing', async () => {
    const r = await readTracefs(NO_PROC, fixture('tracefs', 'sys'));
    expect(r.path).toBe(fixture('tracefs', 'sys', 'kernel', 'tracing'));
    expect(r.via).toBe('available_events');
    expect(r.events.has('fs_dax:dax_pte_fault_done')).toBe(true);
    expect(r.events.has('page_ref:page_ref_mod')).toBe(true);
    expect(r.reason).toBeUndefined();
  });

  it('falls back to /sys/kernel/debug/tracing and to walking events/ without available_events', async () => {
    const r = await readTracefs(NO_PROC, fixture('tracefs-debug', 'sys'));
    expect(r.path).toBe(fixture('tracefs-debug', 'sys', 'kernel', 'debug', 'tracing'));
    expect(r.via).toBe('events_dir');
    expect([...r.events].sort()).toEqual(['fs_dax:dax_pte_fault', 'sched:sched_switch']);
  });

  it('uses a tracefs mount found in /proc/self/mounts first', async () => {
    const proc = await mkdtemp(path.join(os.tmpdir(), 'daxmon-tr-'));
    const elsewhere = await mkdtemp(path.join(os.tmpdir(), 'daxmon-tr-mnt-'));
    await mkdir(path.join(elsewhere, 'events', 'fs_dax', 'dax_pmd_fault'), { recursive: true });
    await mkdir(path.join(proc, 'self'));
    await writeFile(path.join(proc, 'self', 'mounts'), `nodev ${elsewhere} tracefs rw 0 0\n`);
    expect(await findTracefs(proc, fixture('tracefs', 'sys'))).toEqual({ path: elsewhere, refused: null });
  });

  it('a tracefs listed in mounts but not usable is reported as unreadable, not as not mounted', async () => {
    const proc = await mkdtemp(path.join(os.tmpdir(), 'daxmon-tr-'));
    const sys = await mkdtemp(path.join(os.tmpdir(), 'daxmon-tr-sys-'));
    const mnt = await mkdtemp(path.join(os.tmpdir(), 'daxmon-tr-mnt-'));
    await mkdir(path.join(proc, 'self'));
    await writeFile(path.join(proc, 'self', 'mounts'), `tracefs ${mnt} tracefs rw 0 0\n`);
    const r = await readTracefs(proc, sys);
    expect(r.path).toBe(mnt);
    expect(r.events.size).toBe(0);
    expect(r.reason).toMatch(
      /^DAXMON_E_TRACEFS_UNREADABLE: tracefs at .* cannot be read \(no events\/ directory\).*run as root/,
    );
  });

  it('an empty mount point means not mounted: reported with the command that fixes it', async () => {
    const sys = await mkdtemp(path.join(os.tmpdir(), 'daxmon-tr-'));
    await mkdir(path.join(sys, 'kernel', 'tracing'), { recursive: true });
    const r = await readTracefs(NO_PROC, sys);
    expect(r.path).toBeNull();
    expect(r.events.size).toBe(0);
    expect(r.reason).toMatch(
      /^DAXMON_E_TRACEFS_NOT_MOUNTED: .*mount -t tracefs nodev \/sys\/kernel\/tracing/,
    );
  });
});
