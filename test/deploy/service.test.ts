import { describe, expect, it } from 'vitest';
import { capNames, parseLauncherTable, parseUnit, readRepo, setting, unitEnvironment } from './unit-file.js';

const unit = parseUnit(readRepo('deploy/daxmon.service'));
const table = parseLauncherTable(readRepo('bpf/libbpf/caps.c'));
const union = [...new Set(table.flatMap((h) => h.caps))].sort();

// Each of these makes systemd set no_new_privs for a non-root User= without CAP_SYS_ADMIN
// (systemd.exec(5)), and no_new_privs voids daxmon-caps's file capabilities: scans and probes
// would fail under the unit with "needs CAP_BPF, which daxmon-caps does not hold".
const IMPLY_NNP = [
  'SystemCallFilter',
  'SystemCallArchitectures',
  'SystemCallLog',
  'RestrictAddressFamilies',
  'RestrictNamespaces',
  'RestrictRealtime',
  'RestrictSUIDSGID',
  'MemoryDenyWriteExecute',
  'LockPersonality',
  'ProtectKernelModules',
  'ProtectKernelLogs',
  'ProtectClock',
  'ProtectHostname',
  'PrivateDevices',
  'DynamicUser',
];

describe('deploy/daxmon.service: privilege separation', () => {
  it('runs Node as a static user with no capability of its own', () => {
    expect(setting(unit, 'User')).toBe('daxmon');
    expect(setting(unit, 'Group')).toBe('daxmon');
    expect(capNames(setting(unit, 'AmbientCapabilities'))).toEqual([]);
  });

  it('keeps no_new_privs off and uses no option that would imply it', () => {
    expect(setting(unit, 'NoNewPrivileges')).toBe('no');
    for (const k of IMPLY_NNP) {
      const v = setting(unit, k);
      expect(v === undefined || /^(no|false|0)$/.test(v), `${k}=${v}`).toBe(true);
    }
    // and nothing that hides /proc/kallsyms from daxmon and its helpers
    expect(setting(unit, 'ProtectKernelTunables') ?? 'no').toBe('no');
    expect(setting(unit, 'ProcSubset') ?? 'all').toBe('all');
  });

  it('bounds capabilities to the union of the helpers’ sets, which install-caps.sh grants daxmon-caps', () => {
    expect(table.map((h) => h.name).sort()).toEqual([
      'daxmon-bpfcheck',
      'daxmon-loader',
      'daxmon-scan',
      'daxmon-scan',
    ]);
    expect(union).toEqual(['bpf', 'dac_read_search', 'perfmon', 'sys_admin', 'syslog']);
    expect(capNames(setting(unit, 'CapabilityBoundingSet'))).toEqual(union);
    const m = /^CAPS=(\S+)$/m.exec(readRepo('scripts/install-caps.sh'));
    expect(
      m?.[1]
        ?.split(',')
        .map((c) => c.replace(/^cap_/, ''))
        .sort(),
    ).toEqual(union);
    // only the struct-page reader of sysfs resources gets the DAC override, and nothing else
    expect(table.find((h) => h.mode === '--read-resource')?.caps).toEqual(['dac_read_search']);
    for (const h of table.filter((x) => x.mode === null)) expect(h.caps).not.toContain('dac_read_search');
  });

  it('points daxmon at the installed launcher, runs the libbpf backend and listens on loopback', () => {
    expect(unitEnvironment(unit).get('DAXMON_CAPS_LAUNCHER')).toBe('/opt/daxmon/bpf/build/daxmon-caps');
    const exec = setting(unit, 'ExecStart')!;
    expect(exec).toMatch(/^\/usr\/bin\/node \/opt\/daxmon\/dist\/cli\.js run /);
    expect(exec).toMatch(/--backend libbpf/);
    expect(exec).toMatch(/--listen 127\.0\.0\.1:9464/);
  });
});
