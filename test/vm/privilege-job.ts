/**
 * The guest job of test/vm/privilege.vm.test.ts, and the capability arithmetic it asserts with:
 * install daxmon as the unit's install comment says, start it as the unit does, read the
 * capabilities of every daxmon process, then one experiment per capability (docs/privileges.md).
 */
import {
  capNames,
  parseLauncherTable,
  parseUnit,
  readRepo,
  setting,
  unitEnvironment,
} from '../deploy/unit-file.js';

export const MEMMAP_PFN = 0x140000; // memmap=1G!5G
export const MEMMAP_PAGES = 262144;
const CAP_BITS: Record<string, number> = {
  dac_read_search: 2,
  sys_admin: 21,
  sys_resource: 24,
  syslog: 34,
  perfmon: 38,
  bpf: 39,
};
export const mask = (caps: string[]): bigint => caps.reduce((m, c) => m | (1n << BigInt(CAP_BITS[c]!)), 0n);
export const hex = (caps: string[]): string => mask(caps).toString(16).padStart(16, '0');
export const namesOf = (hexMask: string | null): string => {
  const v = BigInt(`0x${hexMask ?? '0'}`);
  const n = Object.entries(CAP_BITS)
    .filter(([, b]) => (v >> BigInt(b)) & 1n)
    .map(([c]) => c);
  const known = mask(n);
  return v === 0n ? '(none)' : `${n.join(',')}${v !== known ? ` +0x${(v & ~known).toString(16)}` : ''}`;
};

export const unit = parseUnit(readRepo('deploy/daxmon.service'));
const table = parseLauncherTable(readRepo('bpf/libbpf/caps.c'));
export const setOf = (name: string, mode: string | null = null): string[] =>
  table.find((h) => h.name === name && h.mode === mode)!.caps;

/** The daemon's start, as the unit's [Service] says it, for a guest without systemd. */
export function unitStart(stateDir: string): string {
  const user = setting(unit, 'User')!;
  const group = setting(unit, 'Group') ?? user;
  const bounding = capNames(setting(unit, 'CapabilityBoundingSet'));
  const ambient = capNames(setting(unit, 'AmbientCapabilities'));
  const env = [...unitEnvironment(unit)].map(([k, v]) => `${k}=${v}`);
  const exec = setting(unit, 'ExecStart')!.replace('${STATE_DIRECTORY}', stateDir);
  const caps = (list: string[]) => ['-all', ...list.map((c) => `+${c}`)].join(',');
  return [
    `env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/nonexistent USER=${user} LOGNAME=${user} ${env.join(' ')}`,
    `setpriv --reuid ${user} --regid ${group} --init-groups`,
    `--bounding-set ${caps(bounding)} --inh-caps ${caps(ambient)} --ambient-caps ${caps(ambient)}`,
    '--',
    exec,
  ].join(' ');
}

export interface Proc {
  pid: number;
  ppid: number;
  name: string;
  uid: string;
  capInh: string;
  capPrm: string;
  capEff: string;
  capBnd: string;
  capAmb: string;
  noNewPrivs: string;
  cmdline: string[];
}
export interface Privilege {
  errors: string[];
  waits: Record<string, number>;
  readyz?: { ready: boolean; reason?: string };
  scan?: { scans: number; pages: number };
  pgmaps?: { id: string; type: string; source: string; ranges: { pfn: number; nrPages: number }[] }[];
  probes?: { probe: string; attached: boolean; detail?: string }[];
  processes: Proc[];
}

const B = '/opt/daxmon/bpf/build';
// Each experiment runs one helper as the daxmon user with exactly the capabilities named
// (ambient, set by root through setpriv): which ones it cannot do without.
export const EXPERIMENTS: { name: string; caps: string[]; what: string }[] = [
  { name: 'bpfcheck-bpf', caps: ['bpf'], what: 'bpfcheck' },
  { name: 'bpfcheck-perfmon', caps: ['perfmon'], what: 'bpfcheck' },
  { name: 'bpfcheck-bpf-perfmon', caps: ['bpf', 'perfmon'], what: 'bpfcheck' },
  // kprobes attach through perf_event_open, which Debian's perf_event_paranoid=3 reserves to CAP_SYS_ADMIN
  { name: 'bpfcheck-bpf-perfmon-sys_admin', caps: ['bpf', 'perfmon', 'sys_admin'], what: 'bpfcheck' },
  { name: 'scan-bpf-perfmon', caps: ['bpf', 'perfmon'], what: 'scan' },
  { name: 'scan-bpf-syslog', caps: ['bpf', 'syslog'], what: 'scan' },
  { name: 'scan-perfmon-syslog', caps: ['perfmon', 'syslog'], what: 'scan' },
  { name: 'scan-bpf-perfmon-syslog', caps: ['bpf', 'perfmon', 'syslog'], what: 'scan' },
  { name: 'resource-none', caps: [], what: 'resource' },
  { name: 'resource-dac', caps: ['dac_read_search'], what: 'resource' },
  { name: 'loader-bpf-syslog', caps: ['bpf', 'syslog'], what: 'loader' },
  { name: 'loader-perfmon-syslog', caps: ['perfmon', 'syslog'], what: 'loader' },
  // also under RLIMIT_MEMLOCK 64 KiB: CAP_SYS_RESOURCE is not needed where BPF memory is memcg-charged
  { name: 'loader-bpf-perfmon-memlock64k', caps: ['bpf', 'perfmon'], what: 'loader' },
  {
    name: 'bpftrace-all',
    caps: ['bpf', 'perfmon', 'syslog', 'dac_read_search', 'sys_admin', 'sys_resource'],
    what: 'bpftrace',
  },
];

export function job(repo: string): string {
  const state = '/run/daxmon-state';
  const exp = EXPERIMENTS.map((e) => {
    const caps = ['-all', ...e.caps.map((c) => `+${c}`)].join(',');
    const as = `setpriv --reuid daxmon --regid daxmon --init-groups --inh-caps ${caps} --ambient-caps ${caps}`;
    switch (e.what) {
      case 'bpfcheck':
        return `exp ${e.name} 120 ${as} ${B}/daxmon-bpfcheck --json`;
      case 'scan':
        return `exp ${e.name} 120 ${as} ${B}/daxmon-scan ${B}/daxmon_scan.bpf.o < /tmp/scanreq`;
      case 'resource':
        return `exp ${e.name} 60 ${as} ${B}/daxmon-scan --read-resource namespace0.0`;
      case 'bpftrace':
        return `exp ${e.name} 120 ${as} bpftrace -e 'BEGIN { exit(); }'`;
      default: {
        const limit = e.name.includes('memlock64k') ? 'ulimit -l 64; ' : '';
        return [
          `daxmon_bg_start exp-${e.name} sh -c '${limit}eval "exec ${as} ${B}/daxmon-loader $(cat /tmp/loader-args)"'`,
          `daxmon_bg_wait_for exp-${e.name} '"kind":"ready"' 420; echo $? > $R/exp-${e.name}.rc`,
          `daxmon_bg_stop exp-${e.name} TERM 15`,
        ].join('\n');
      }
    }
  });
  return [
    'R=$DAXMON_RESULTS',
    '# exp NAME TIMEOUT CMD...: one bounded run; stdout, stderr and status in $R/exp-NAME.*',
    'exp() { _n=$1; _t=$2; shift 2; timeout "$_t" "$@" > $R/exp-$_n.out 2> $R/exp-$_n.err; echo $? > $R/exp-$_n.rc; }',
    '# the install step: a copy of the checkout in /opt/daxmon (the guest root is the host`s, read-only:',
    '# /opt and /etc become writable copies), then scripts/install-caps.sh as deploy/daxmon.service says',
    'mount -t tmpfs opt /opt || daxmon_fail "tmpfs on /opt"',
    'cp -a /etc /run/etc && mount --bind /run/etc /etc || daxmon_fail "writable /etc"',
    'mkdir -p /opt/daxmon/bpf',
    `cp -r ${repo}/dist ${repo}/package.json ${repo}/scripts ${repo}/deploy ${repo}/view /opt/daxmon/`,
    `cp -r ${repo}/bpf/build ${repo}/bpf/bpftrace /opt/daxmon/bpf/`,
    `ln -s ${repo}/node_modules /opt/daxmon/node_modules`,
    'bash /opt/daxmon/scripts/install-caps.sh > $R/install.log 2>&1 || { cat $R/install.log; daxmon_fail "install-caps.sh failed"; }',
    'cat $R/install.log',
    `mkdir -p ${state} && chown daxmon:daxmon ${state} && chmod 0750 ${state}`,
    'for k in kptr_restrict perf_event_paranoid unprivileged_bpf_disabled; do echo "$k $(cat /proc/sys/kernel/$k)"; done > $R/sysctl.txt',
    'echo "memlock $(ulimit -l)" >> $R/sysctl.txt',
    'bpftrace --version > $R/bpftrace-version.txt 2>&1',
    '# daxmon as the unit starts it',
    `daxmon_bg_start daxmon ${unitStart(state)}`,
    // it also writes the running loader's arguments (its /proc/PID/cmdline) for the experiments
    `DAXMON_LOADER_ARGS=/tmp/loader-args node ${repo}/test/vm/guest/privilege-steps.mjs http://127.0.0.1:9464 $(daxmon_bg_pid daxmon)`,
    'rc=$?',
    'daxmon_bg_stop daxmon INT 20',
    '# what each helper needs: its set with one capability taken away, or more given',
    `printf 'scan ${MEMMAP_PFN} 16 0\\n' > /tmp/scanreq`,
    ...exp,
    '# no_new_privs (NoNewPrivileges=yes) voids the launcher`s file capabilities',
    // from a process that holds nothing, as Node does (setpriv itself keeps root's permitted set
    // until its exec, which would let the file capabilities through)
    `exp nnp 60 setpriv --reuid daxmon --regid daxmon --init-groups --no-new-privs sh -c 'exec ${B}/daxmon-caps ${B}/daxmon-bpfcheck --json'`,
    'exit $rc',
  ].join('\n');
}
