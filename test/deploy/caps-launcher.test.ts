// bpf/build/daxmon-caps on this machine, installed the way scripts/install-caps.sh does it (file
// capabilities, root:GROUP, 0750) in a private directory, run as an unprivileged user. The
// "helpers" are copies of a small program built here (cc) under the allow-listed names, which
// print the capabilities (from /proc/self/status) and the environment the launched process really
// has. Needs root, setcap and cc (the daxmon CI and development machines have all three).
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, parseLauncherTable, readRepo } from './unit-file.js';

const built = path.join(REPO, 'bpf', 'build', 'daxmon-caps');
const setcap = ['/usr/sbin/setcap', '/sbin/setcap'].find((p) => existsSync(p));
const root = process.getuid?.() === 0;
const cc = spawnSync('sh', ['-c', 'command -v cc'], { encoding: 'utf8' }).stdout.trim();
const enabled = root && setcap !== undefined && cc !== '' && existsSync(built);

// Prints its status lines and environment: what a helper started by daxmon-caps really holds.
const DUMP_C = `#include <stdio.h>
extern char **environ;
int main(void) {
  char l[256]; FILE *f = fopen("/proc/self/status", "r");
  while (f && fgets(l, sizeof l, f)) fputs(l, stdout);
  for (char **e = environ; *e; e++) printf("ENV %s\\n", *e);
  return 0;
}
`;
const NOBODY = 65534; // its own group too: the launcher's group is the caller's primary group here

const CAP_BITS: Record<string, number> = {
  dac_read_search: 2,
  sys_admin: 21,
  syslog: 34,
  perfmon: 38,
  bpf: 39,
};
const mask = (caps: string[]) => caps.reduce((m, c) => m | (1n << BigInt(CAP_BITS[c]!)), 0n);

let dir = '';
function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(
    'setpriv',
    [
      '--reuid',
      String(NOBODY),
      '--regid',
      String(NOBODY),
      '--clear-groups',
      path.join(dir, 'daxmon-caps'),
      ...args,
    ],
    { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } },
  );
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
function caps(stdout: string): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const m of stdout.matchAll(/(Cap\w+):\s*([0-9a-f]+)/g)) out[m[1]!] = BigInt(`0x${m[2]}`);
  return out;
}

describe.skipIf(!enabled)('daxmon-caps (file capabilities, as an unprivileged user)', () => {
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'daxmon-caps-'));
    chmodSync(dir, 0o755);
    writeFileSync(path.join(dir, 'dump.c'), DUMP_C);
    execFileSync(cc, ['-O1', '-o', path.join(dir, 'daxmon-bpfcheck'), path.join(dir, 'dump.c')]);
    for (const h of ['daxmon-loader', 'daxmon-scan'])
      copyFileSync(path.join(dir, 'daxmon-bpfcheck'), path.join(dir, h));
    for (const h of ['daxmon-loader', 'daxmon-scan', 'daxmon-bpfcheck']) chmodSync(path.join(dir, h), 0o755);
    writeFileSync(path.join(dir, 'daxmon.bpf.o'), '');
    const l = path.join(dir, 'daxmon-caps');
    copyFileSync(built, l);
    chownSync(l, 0, NOBODY);
    chmodSync(l, 0o750);
    execFileSync(setcap!, ['cap_dac_read_search,cap_sys_admin,cap_syslog,cap_perfmon,cap_bpf=p', l]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives each helper exactly its set of bpf/libbpf/caps.c, in effective, permitted and ambient', () => {
    const table = parseLauncherTable(readRepo('bpf/libbpf/caps.c'));
    for (const h of table) {
      const args =
        h.name === 'daxmon-loader'
          ? ['--enable', 'x', path.join(dir, 'daxmon.bpf.o')]
          : h.mode
            ? [h.mode]
            : [];
      const r = run([path.join(dir, h.name), ...args]);
      expect(r.stderr, h.name).toBe('');
      // named after the helper, not after a descriptor
      expect(r.stdout).toMatch(new RegExp(`^Name:\\s*${h.name}$`, 'm'));
      const c = caps(r.stdout);
      const want = mask(h.caps);
      expect({ h: `${h.name} ${h.mode ?? ''}`, eff: c.CapEff, prm: c.CapPrm, amb: c.CapAmb }).toEqual({
        h: `${h.name} ${h.mode ?? ''}`,
        eff: want,
        prm: want,
        amb: want,
      });
    }
    // and the caller itself holds none
    const self = spawnSync(
      'setpriv',
      [
        '--reuid',
        String(NOBODY),
        '--regid',
        String(NOBODY),
        '--clear-groups',
        'grep',
        'Cap',
        '/proc/self/status',
      ],
      { encoding: 'utf8' },
    );
    expect(caps(self.stdout).CapEff).toBe(0n);
  });

  it('sets no_new_privs and hands over a fixed environment, nothing of the caller’s', () => {
    const r = run([path.join(dir, 'daxmon-bpfcheck')], { LD_PRELOAD: '/tmp/evil.so', DAXMON_SECRET: 'x' });
    expect(r.stdout).toMatch(/^NoNewPrivs:\s*1$/m);
    const env = [...r.stdout.matchAll(/^ENV (.*)$/gm)].map((m) => m[1]).sort();
    expect(env).toEqual(['LC_ALL=C', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin']);
  });

  it('refuses anything but an allow-listed helper next to it, and any other object for the loader', () => {
    const refused = (args: string[], why: RegExp) => {
      const r = run(args);
      expect(r.code, r.stderr).toBe(126);
      expect(r.stderr).toMatch(/^DAXMON_E_CAPS_REFUSED: /);
      expect(r.stderr).toMatch(why);
    };
    refused([], /usage/);
    refused(['daxmon-bpfcheck'], /usage/);
    refused(['/usr/bin/grep', 'Cap', '/proc/self/status'], /not in .*only the helpers next to daxmon-caps/);
    refused([path.join(dir, 'daxmon-caps')], /not an allow-listed helper/);
    refused(
      [path.join(dir, 'daxmon-loader'), '--enable', 'x', '/tmp/evil.bpf.o'],
      /loads only .*daxmon\.bpf\.o/,
    );
    refused([path.join(dir, 'daxmon-loader'), path.join(dir, 'daxmon.bpf.o'), '/tmp/x.o'], /loads only/);
  });

  it('refuses a helper someone other than root could have replaced', () => {
    const h = path.join(dir, 'daxmon-scan');
    chmodSync(h, 0o775);
    try {
      const r = run([h]);
      expect(r.code).toBe(126);
      expect(r.stderr).toMatch(/writable by group or others/);
    } finally {
      chmodSync(h, 0o755);
    }
    chownSync(h, NOBODY, NOBODY);
    try {
      expect(run([h]).stderr).toMatch(/not owned by root/);
    } finally {
      chownSync(h, 0, 0);
    }
    chownSync(dir, NOBODY, 0);
    try {
      expect(run([h]).stderr).toMatch(/is not owned by root/);
    } finally {
      chownSync(dir, 0, 0);
    }
  });

  it('under no_new_privs (NoNewPrivileges=yes) it gets nothing, and says so', () => {
    // Started from a process that holds nothing, as Node does: setpriv itself keeps root's
    // permitted set until its exec, and the kernel lets through what the caller already had.
    const r = spawnSync(
      'setpriv',
      [
        '--reuid',
        String(NOBODY),
        '--regid',
        String(NOBODY),
        '--clear-groups',
        '--no-new-privs',
        'sh',
        '-c',
        `exec ${path.join(dir, 'daxmon-caps')} ${path.join(dir, 'daxmon-bpfcheck')}`,
      ],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(126);
    expect(r.stderr).toMatch(/daxmon-bpfcheck needs CAP_[A-Z_]+, which daxmon-caps does not hold/);
  });

  it('says what is missing when it was installed without its file capabilities', () => {
    const bare = path.join(dir, 'bare');
    mkdirSync(bare, { mode: 0o755 });
    copyFileSync(built, path.join(bare, 'daxmon-caps'));
    chmodSync(path.join(bare, 'daxmon-caps'), 0o755);
    copyFileSync(path.join(dir, 'daxmon-bpfcheck'), path.join(bare, 'daxmon-bpfcheck'));
    chmodSync(path.join(bare, 'daxmon-bpfcheck'), 0o755);
    const r = spawnSync(
      'setpriv',
      [
        '--reuid',
        String(NOBODY),
        '--regid',
        String(NOBODY),
        '--clear-groups',
        path.join(bare, 'daxmon-caps'),
        path.join(bare, 'daxmon-bpfcheck'),
      ],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(126);
    expect(r.stderr).toMatch(/daxmon-bpfcheck needs CAP_[A-Z_]+, which daxmon-caps does not hold/);
  });
});
