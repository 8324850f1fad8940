import { describe, expect, it } from 'vitest';
import { buildCmdline, memmapArg } from '../../lab/src/cmdline.js';
import { LineSplitter, classifyConsoleLine } from '../../lab/src/console.js';
import { renderGuestEnv, renderInitScript } from '../../lab/src/init-script.js';
import { planPmem } from '../../lab/src/pmem.js';
import { buildQemuArgs } from '../../lab/src/qemu.js';
import { renderLabJob } from '../../lab/src/lab.js';

// Console of a 7.3 boot that panicked while unpacking the initramfs (about 1 boot in 15 here),
// followed by a good one.
const PANICKED = `[    1.204512] Trying to unpack rootfs image as initramfs...
[    1.291003] BUG: unable to handle page fault for address: ffffb2c4c0b47ff8
[    1.291411] RIP: 0010:sched_clock_cpu+0x1c/0x1f0
[    1.297760] Kernel panic - not syncing: Fatal exception in interrupt
[    1.298112] ---[ end Kernel panic - not syncing: Fatal exception in interrupt ]---`;
const GOOD = `DAXMON_STAGE modules 3.48
[    6.100000] nd_pmem namespace0.0: unable to guarantee persistence of writes
DAXMON_READY 8.73
DAXMON_STAGE job 10.02 7.3.4+deb13-amd64
[   20.000000] ------------[ cut here ]------------
[   20.000001] WARNING: CPU: 1 PID: 377 at fs/dax.c:403 dax_disassociate_entry+0x1b2/0x1c0
DAXMON_DONE rc=0 11.79`;

describe('ready and panic detection', () => {
  it('sees the early panic as a panic and nothing else', () => {
    const events = PANICKED.split('\n').map(classifyConsoleLine).filter(Boolean);
    expect(events.map((e) => e?.kind)).toEqual(['oops', 'panic', 'panic']);
    expect(events.some((e) => e?.kind === 'ready')).toBe(false);
  });

  it('reads the stages and ready (with the guest uptime), warnings and the job exit code', () => {
    const events = GOOD.split('\n').map(classifyConsoleLine).filter(Boolean);
    expect(events[0]).toEqual({ kind: 'stage', stage: 'modules', guestUptimeSeconds: 3.48 });
    expect(events[1]).toEqual({ kind: 'ready', guestUptimeSeconds: 8.73 });
    expect(events[2]).toEqual({ kind: 'stage', stage: 'job', guestUptimeSeconds: 10.02 });
    expect(classifyConsoleLine('[ 3.0] DAXMON_STAGE pmem-ready')).toEqual({
      kind: 'stage',
      stage: 'pmem-ready',
      guestUptimeSeconds: undefined,
    });
    expect(events.filter((e) => e?.kind === 'warning')).toHaveLength(2);
    expect(events.at(-1)).toEqual({ kind: 'done', rc: 0 });
    expect(classifyConsoleLine('DAXMON_BOOT_FAILED cannot mount the host root (9p)')).toEqual({
      kind: 'boot-failed',
      reason: 'cannot mount the host root (9p)',
    });
    expect(classifyConsoleLine('[ 3.1] virtio_net virtio0 eth0: renamed')).toBeUndefined();
  });

  it('finds markers in lines split across chunks and sharing a line with kernel output', () => {
    const s = new LineSplitter();
    expect(s.push('[  8.7] random: crng init done\r\nDAXMON_RE')).toEqual(['[  8.7] random: crng init done']);
    expect(s.push('ADY 8.73\n')).toEqual(['DAXMON_READY 8.73']);
    expect(classifyConsoleLine('[ 12.0] reboot: Power downDAXMON_DONE rc=3 12.1')).toEqual({
      kind: 'done',
      rc: 3,
    });
  });
});

describe('kernel command line and qemu arguments', () => {
  it('puts the memmap pmem above 4 GiB and makes panics end the boot', () => {
    const plan = planPmem({ kind: 'memmap', fs: 'xfs', memoryMiB: 4096 });
    expect(plan.cmdline).toEqual(['memmap=1G!5G']);
    const cmdline = buildCmdline({ pmem: plan.cmdline });
    expect(cmdline).toContain('console=ttyS0');
    expect(cmdline).toContain('panic=-1');
    expect(cmdline.split(' ')).toContain('memmap=1G!5G');
    expect(memmapArg(512, 4608)).toBe('memmap=512M!4608M');
    expect(() => planPmem({ kind: 'memmap', memoryMiB: 2048 })).toThrow(/guest RAM/);
  });

  it('gives the NVDIMM a region that is a multiple of the 16 MiB alignment, with labels', () => {
    const plan = planPmem({ kind: 'nvdimm-devdax', memoryMiB: 4096, nvdimmImage: '/c/n.img' });
    expect(plan.machine).toBe('q35,nvdimm=on');
    expect(plan.memoryArg).toBe('4096M,slots=2,maxmem=6144M');
    expect(plan.qemuArgs.join(' ')).toContain('size=1025M');
    expect(plan.qemuArgs.join(' ')).toContain('label-size=1M');
    expect(plan.guestSetup).toContain('ndctl create-namespace -r region0 -m devdax');
    expect(
      planPmem({ kind: 'nvdimm-fsdax', fs: 'ext4', memoryMiB: 4096, nvdimmImage: '/x' }).guestSetup,
    ).toContain('-m fsdax');
  });

  it('shares the host root read-only and forwards ports only on loopback', () => {
    const args = buildQemuArgs({
      kernel: '/k',
      initrd: '/i',
      cmdline: 'console=ttyS0',
      machine: 'q35',
      memoryArg: '4096M',
      cpus: 2,
      shares: [
        { tag: 'hostroot', hostPath: '/', readonly: true },
        { tag: 'daxres', hostPath: '/r', readonly: false },
      ],
      forwards: [{ guestPort: 9464, hostPort: 40123 }],
      extraArgs: [],
    });
    const joined = args.join(' ');
    expect(joined).toContain(
      '-virtfs local,path=/,mount_tag=hostroot,security_model=none,multidevs=remap,readonly=on',
    );
    expect(joined).toContain('mount_tag=daxres,security_model=none,multidevs=remap -nic');
    expect(joined).toContain('hostfwd=tcp:127.0.0.1:40123-:9464');
    expect(joined).toContain('-no-reboot');
    const noNet = buildQemuArgs({
      ...{ kernel: '/k', initrd: '/i', cmdline: '', machine: 'q35', memoryArg: '1G', cpus: 1 },
      shares: [],
      forwards: [],
      extraArgs: [],
    });
    expect(noNet.join(' ')).toContain('-nic none');
  });

  it('writes guest.env with one tag per share and refuses paths the shell would split', () => {
    const env = renderGuestEnv({
      resultsPath: '/root/.cache/daxmon/runs/x/results',
      shares: [{ hostPath: '/tmp/checkout', readonly: true }],
      network: true,
    });
    expect(env.text).toContain("DAXMON_SHARES='dxs0:/tmp/checkout:ro'");
    expect(env.text).toContain('DAXMON_NET=1');
    expect(() => renderGuestEnv({ resultsPath: '/a b', shares: [], network: false })).toThrow(
      /cannot be shared/,
    );
    const init = renderInitScript();
    expect(init.startsWith('#!/bin/busybox sh')).toBe(true);
    expect(init).toContain('DAXMON_READY');
    expect(init).toContain('mount --bind /results');
  });
});

describe('lab job', () => {
  it('quotes the daxmon command for the guest shell and expands only the results token', () => {
    const job = renderLabJob(
      ['/usr/bin/node', "/repo/it's/cli.js", '--journal-dir', '@RESULTS@/journal'],
      true,
    );
    expect(job).toContain(
      `daxmon_bg_start daxmon '/usr/bin/node' '/repo/it'\\''s/cli.js' '--journal-dir' ''"$DAXMON_RESULTS"'/journal'`,
    );
    expect(job).toContain('daxmon_bg_start lab-workload python3');
    expect(renderLabJob(['x'], false)).not.toContain('lab-workload python3');
    const own = renderLabJob(['x'], 'import sys\nprint(sys.argv[1])');
    expect(own).toContain("<<'DAXMON_DEMO'\nimport sys\nprint(sys.argv[1])\nDAXMON_DEMO\n");
    expect(own).toContain('daxmon_bg_start lab-workload python3 /tmp/daxmon/demo.py "$DAXMON_RESULTS"');
  });
});
