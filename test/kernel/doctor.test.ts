import { chmod, mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli.js';
import {
  buildDoctorReport,
  DOCTOR_KEY_FUNCTIONS,
  renderDoctorText,
  runDoctor,
} from '../../src/commands/doctor.js';
import { PROBE_CATALOGUE, probesFor } from '../../src/probes/catalogue.js';
import { facts73 } from '../probes/bpftrace-facts.js';
import type { DoctorReport } from '../../src/commands/doctor.js';
import type { GatherOptions } from '../../src/kernel/gather.js';
import type { CommandRunner } from '../../src/kernel/exec.js';
import { fixture } from './helpers/fixtures.js';
import { RESTRICTED_HOST_JSON } from './helpers/bpfcheck.js';
import { modelBtf } from './helpers/btf-encoder.js';

const NOWHERE = '/nonexistent-daxmon-root';

function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

const bookwormTools: CommandRunner = async (command) => {
  const out: Record<string, string> = {
    bpftrace: 'bpftrace v0.17.0',
    clang: 'Debian clang version 14.0.6',
    'pkg-config': '1.1.2',
    bpftool: 'bpftool v7.1.0\nusing libbpf v1.1',
  };
  const stdout = out[command];
  return stdout === undefined
    ? { exitCode: null, stdout: '', stderr: '', error: 'ENOENT' }
    : { exitCode: 0, stdout, stderr: '' };
};

async function checker(json: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'daxmon-doctor-'));
  const bin = path.join(dir, 'daxmon-bpfcheck');
  await writeFile(bin, `#!/bin/sh\necho '${json}'\n`);
  await chmod(bin, 0o755);
  return bin;
}

/** The development machine as fixtures: 6.18 kallsyms excerpt, its config, no pmem, the checker's answer. */
async function restrictedHost(): Promise<GatherOptions> {
  return {
    release: '6.18.44-fc-v669',
    procRoot: fixture('host-6.18', 'proc'),
    sysRoot: fixture('tracefs', 'sys'),
    bootRoot: fixture('host-6.18', 'boot'),
    devRoot: NOWHERE,
    bpfcheckPath: await checker(RESTRICTED_HOST_JSON),
    assumePrivileged: true,
    run: async (command, args, opts) =>
      command.endsWith('daxmon-bpfcheck')
        ? { exitCode: 0, stdout: RESTRICTED_HOST_JSON, stderr: '' }
        : bookwormTools(command, args, opts),
  };
}

/**
 * A 7.3 DAX host with nothing missing: the pmem and tracefs fixture trees joined under one /sys,
 * new-model BTF, a kernel config in /boot. The checker's answer is the test's.
 */
async function readyHost(): Promise<GatherOptions> {
  const sys = await mkdtemp(path.join(os.tmpdir(), 'daxmon-ready-sys-'));
  await symlink(fixture('pmem', 'sys', 'bus'), path.join(sys, 'bus'));
  await symlink(fixture('pmem', 'sys', 'devices'), path.join(sys, 'devices'));
  await mkdir(path.join(sys, 'kernel', 'btf'), { recursive: true });
  await symlink(fixture('tracefs', 'sys', 'kernel', 'tracing'), path.join(sys, 'kernel', 'tracing'));
  await writeFile(path.join(sys, 'kernel', 'btf', 'vmlinux'), modelBtf('new'));
  return {
    release: '7.3.4+deb13-amd64',
    procRoot: fixture('new-7.3', 'proc'),
    sysRoot: sys,
    devRoot: fixture('pmem', 'dev'),
    // Debian's 7.3.4 config, the lines of the options doctor shows (linux-config-7.3).
    bootRoot: fixture('new-7.3', 'boot'),
    bpfcheckPath: await checker('{}'),
    assumePrivileged: true,
  };
}

describe('daxmon doctor', () => {
  it('says truthfully on a development machine with tracefs mounted: tracepoints load, kprobe and fentry are refused, no pmem; exit 1', async () => {
    const out = sink();
    const code = await runDoctor({ json: false, out: out.stream, gather: await restrictedHost() });
    const text = out.text();
    expect(code).toBe(1);
    expect(text).toMatch(/✔ tracepoint +loads/);
    expect(text).toMatch(/✔ tp_btf +loads/);
    expect(text).toMatch(/✘ kprobe +refused: attach: ENOENT/);
    expect(text).toMatch(/✘ fentry +refused: load: EPERM/);
    expect(text).toMatch(/✔ new \(FS DAX folios idle at refcount 0\), decided by kallsyms/);
    expect(text).toMatch(/✘ KPROBES +n/);
    expect(text).toMatch(/✔ bpftrace +0\.17\.0/);
    // That build has no dax_disassociate_entry at all (docs/probes.md): the removal probe cannot attach.
    expect(text).toMatch(/✘ dax_disassociate_entry {2}absent/);
    expect(text).toMatch(/✘ no nd regions, namespaces or device-dax devices/);
    expect(text).toContain(
      'Summary: refcount model new (kallsyms); libbpf backend: tracepoint probes only, as tracepoint, raw_tp, tp_btf (kprobe, fentry refused); bpftrace backend: tracepoints only; no pmem: run `daxmon lab` for a DAX VM',
    );
    expect(text).not.toContain('DAXMON_E_TRACEFS_NOT_MOUNTED');
    // The fixture /sys has no BTF: that problem is counted, the rest named.
    expect(text).toMatch(/Problems\n {2}- DAXMON_E_BTF_MISSING/);
    expect(text).toMatch(
      /Status: degraded \(exit 1\): \d+ problems? listed; kprobe, fentry refused; no pmem; config lacks NVDIMM_PFN \(required\)\n$/,
    );
  });

  it('unprivileged, without a launcher: says program types were not tried and names DAXMON_CAPS_LAUNCHER', async () => {
    const proc = await mkdtemp(path.join(os.tmpdir(), 'daxmon-doctor-proc-'));
    await mkdir(path.join(proc, 'self'), { recursive: true });
    await writeFile(path.join(proc, 'self', 'status'), 'Name:\tnode\nCapEff:\t0000000000000000\n');
    const host = await restrictedHost();
    const gather: GatherOptions = { ...host, procRoot: proc, assumePrivileged: false, launcher: null };
    const out = sink();
    await runDoctor({ json: false, out: out.stream, gather });
    expect(out.text()).toMatch(
      /- DAXMON_E_BPFCHECK_NO_PRIVILEGE: not root and no CAP_BPF\+CAP_PERFMON \(or CAP_SYS_ADMIN\), and no DAXMON_CAPS_LAUNCHER: .*scripts\/install-caps\.sh/,
    );
    // a launcher that is configured but not installed is named too
    const missing = sink();
    await runDoctor({
      json: false,
      out: missing.stream,
      gather: { ...gather, launcher: '/opt/daxmon/bpf/build/daxmon-caps' },
    });
    expect(missing.text()).toMatch(
      /- DAXMON_E_CAPS_LAUNCHER: DAXMON_CAPS_LAUNCHER=\/opt\/daxmon\/bpf\/build\/daxmon-caps cannot be executed/,
    );
  });

  it('without tracefs, the refused tracepoint type says why (DAXMON_E_TRACEFS_NOT_MOUNTED) and how to mount it', async () => {
    const json = JSON.stringify({
      tracepoint: { loads: false, detail: 'loaded, attach to sched:sched_process_exit refused: ENOENT' },
      raw_tp: { loads: true, detail: 'ok' },
      tp_btf: { loads: true, detail: 'ok' },
      kprobe: { loads: false, detail: 'ENOENT' },
      fentry: { loads: false, detail: 'EPERM' },
    });
    const out = sink();
    const code = await runDoctor({
      json: false,
      out: out.stream,
      gather: {
        ...(await restrictedHost()),
        sysRoot: NOWHERE,
        run: async () => ({ exitCode: 0, stdout: json, stderr: '' }),
      },
    });
    const text = out.text();
    expect(code).toBe(1);
    // The program-type line itself names the cause and the fix, not only the kernel's ENOENT.
    expect(text).toContain(
      '✘ tracepoint  refused: loaded, attach to sched:sched_process_exit refused: ENOENT; DAXMON_E_TRACEFS_NOT_MOUNTED: tracefs is not mounted, and tracepoint programs attach through its event ids: mount it with `mount -t tracefs nodev /sys/kernel/tracing` (raw_tp and tp_btf do not need it)',
    );
    // kprobe's ENOENT is explained by the kernel config doctor read.
    expect(text).toContain(
      '✘ kprobe      refused: ENOENT; this kernel is built without kprobes (CONFIG_KPROBES=n)',
    );
    expect(text).toMatch(
      /✘ tracefs: DAXMON_E_TRACEFS_NOT_MOUNTED: .*`mount -t tracefs nodev \/sys\/kernel\/tracing`/,
    );
    expect(text).toMatch(
      /Summary: .*libbpf backend: tracepoint probes only, as raw_tp, tp_btf \(tracepoint, kprobe, fentry refused\); bpftrace backend: tracepoints only, once tracefs is mounted;.*tracefs not mounted: `tracepoint` programs need it \(`mount -t tracefs nodev \/sys\/kernel\/tracing`\)/,
    );
    expect(text).toMatch(
      /Status: degraded \(exit 1\): \d+ problems? listed; tracepoint, kprobe, fentry refused; no pmem; config lacks NVDIMM_PFN \(required\)\n$/,
    );
  });

  it('a host where everything loads, with tracefs, BTF, config and pmem, is ready: exit 0', async () => {
    const everything = JSON.stringify(
      Object.fromEntries(
        ['tracepoint', 'raw_tp', 'tp_btf', 'kprobe', 'fentry'].map((t) => [t, { loads: true, detail: 'ok' }]),
      ),
    );
    const out = sink();
    const code = await runDoctor({
      json: false,
      out: out.stream,
      gather: {
        ...(await readyHost()),
        run: async (command, args, opts) =>
          command.endsWith('daxmon-bpfcheck')
            ? { exitCode: 0, stdout: everything, stderr: '' }
            : bookwormTools(command, args, opts),
      },
    });
    const text = out.text();
    expect(text).toMatch(/libbpf backend: every program type loads \(fentry\/fexit, kprobe, tracepoints\)/);
    expect(text).not.toMatch(/bpftrace backend: tracepoints only/);
    expect(text).not.toContain('Problems');
    // Debian's 7.3.4 config: every required option there; the two recommended ones it lacks are
    // named with what they cost, and do not make the host degraded.
    expect(text).toMatch(/✔ ZONE_DEVICE +y +required +struct pages for device memory/);
    expect(text).toMatch(/✘ DEBUG_PAGE_REF +n +page_ref:\* tracepoints/);
    expect(text).not.toContain('missing, required');
    expect(text).toContain('missing, recommended (what turning each on costs):');
    expect(text).toMatch(
      / {8}DEBUG_PAGE_REF: about 30 KB of kernel code; every inlined page_ref_\* operation tests a static key/,
    );
    expect(text).toMatch(/ {8}TEST_HMM: a module, loaded only for the tests/);
    expect(text).toContain('`daxmon kconfig` prints the fragment');
    expect(text.trimEnd().split('\n').pop()).toBe('Status: ready (exit 0)');
    expect(code).toBe(0);
  });

  it('lists the required options a config lacks, in the report and the verdict', async () => {
    const out = sink();
    const code = await runDoctor({ json: true, out: out.stream, gather: await restrictedHost() });
    const report = JSON.parse(out.text()) as DoctorReport;
    expect(code).toBe(1);
    expect(report.config.missing.filter((m) => m.need === 'required').map((m) => m.key)).toEqual([
      'NVDIMM_PFN',
    ]);
    expect(report.config.missing.find((m) => m.key === 'KPROBES')).toMatchObject({
      need: 'recommended',
      found: 'n',
      cost: expect.stringContaining('breakpoint'),
    });
    expect(report.status.reasons).toContain('config lacks NVDIMM_PFN (required)');
  });

  it('exits 3 when every program type was tried and refused: no probe can attach', async () => {
    const refused = JSON.stringify(
      Object.fromEntries(
        ['tracepoint', 'raw_tp', 'tp_btf', 'kprobe', 'fentry'].map((t) => [
          t,
          { loads: false, detail: 'load: EPERM' },
        ]),
      ),
    );
    const out = sink();
    const code = await runDoctor({
      json: true,
      out: out.stream,
      gather: { ...(await readyHost()), run: async () => ({ exitCode: 0, stdout: refused, stderr: '' }) },
    });
    expect(code).toBe(3);
    expect((JSON.parse(out.text()) as DoctorReport).status).toEqual({
      verdict: 'unprobed',
      exitCode: 3,
      reasons: ['tracepoint, raw_tp, tp_btf, kprobe, fentry refused'],
    });
  });

  it('--json prints the whole structured report', async () => {
    const out = sink();
    expect(await runDoctor({ json: true, out: out.stream, gather: await restrictedHost() })).toBe(1);
    const report = JSON.parse(out.text()) as DoctorReport;
    expect(report.release).toBe('6.18.44-fc-v669');
    expect(report.model.model).toBe('new');
    expect(report.progTypes.kprobe.loads).toBe(false);
    expect(report.tracefs.fsDax).toContain('fs_dax:dax_pte_fault_done');
    expect(report.config.options.KPROBES).toBe('n');
    expect(report.tools?.libbpf?.version).toBe('1.1.2');
    expect(report.pmem?.namespaces).toEqual([]);
    expect(report.kallsyms.keyFunctions.find((f) => f.name === 'free_zone_device_folio')?.exact).toBe(true);
    // 60k names would drown the report; counts only, and never an address.
    expect(report.kallsyms.functionCount).toBeGreaterThan(0);
    expect(out.text()).not.toMatch(/ffffffff[0-9a-f]{8}/);
  });

  it('--model old overrides, and the report shows what detection said', async () => {
    const out = sink();
    await runDoctor({ json: false, model: 'old', out: out.stream, gather: await restrictedHost() });
    expect(out.text()).toMatch(/✔ old \(FS DAX pages idle at refcount 1\), decided by override/);
    expect(out.text()).toMatch(/detection would say new \(from kallsyms\): DISAGREES with the override/);
  });

  it('shows namespaces, modes and devices on a pmem host', async () => {
    const out = sink();
    await runDoctor({
      json: false,
      out: out.stream,
      gather: {
        release: '7.3.4+deb13-amd64',
        procRoot: fixture('new-7.3', 'proc'),
        sysRoot: fixture('pmem', 'sys'),
        devRoot: fixture('pmem', 'dev'),
        bootRoot: NOWHERE,
        modulesRoot: NOWHERE,
        progTypes: false,
        tools: false,
      },
    });
    const text = out.text();
    expect(text).toMatch(
      /✔ namespace0\.0 \(region0\): mode fsdax \[sysfs "memory"\], 512 MiB at 0x140000000, claimed by pfn0\.1, memmap in pmem, ZONE_DEVICE pages, \/dev\/pmem0/,
    );
    expect(text).toMatch(/✔ namespace0\.1 \(region0\): mode devdax \[sysfs "dax"\].*\/dev\/dax0\.0/);
    expect(text).toMatch(/✔ namespace0\.2 \(region0\): mode raw, 128 MiB.*no struct pages/);
    expect(text).toMatch(/✔ dax0\.0: 254 MiB, align 2 MiB, driver device_dax/);
    expect(text).toMatch(
      /✔ \/proc\/iomem: Persistent Memory \(legacy\) 0x180000000-0x1bfffffff → namespace1\.0/,
    );
    expect(text).toMatch(/Summary: .*pmem: 2 fsdax namespace\(s\), 1 device-dax/);
    expect(text).toMatch(/libbpf backend: program types untested/);
  });

  it('on 6.1 shows the 6.1 names of the old-model hooks', async () => {
    const out = sink();
    await runDoctor({
      json: false,
      out: out.stream,
      gather: {
        release: '6.1.0-56-amd64',
        procRoot: fixture('old-6.1', 'proc'),
        sysRoot: NOWHERE,
        devRoot: NOWHERE,
        bootRoot: NOWHERE,
        modulesRoot: NOWHERE,
        progTypes: false,
        tools: false,
      },
    });
    const text = out.text();
    expect(text).toMatch(/✔ old \(FS DAX pages idle at refcount 1\), decided by kallsyms/);
    expect(text).toMatch(/✔ __put_devmap_managed_page_refs\n/);
    expect(text).toMatch(/✔ free_zone_device_page\n/);
    expect(text).toMatch(/✘ try_grab_folio_fast \/ try_grab_page {2}absent/);
  });

  it('on 7.3 shows that dax_disassociate_entry exists only as the .isra clone the kprobe reaches', () => {
    const text = renderDoctorText(buildDoctorReport(facts73()));
    expect(text).toMatch(
      /\? dax_disassociate_entry +only as dax_disassociate_entry\.isra\.0 \(kprobe only\)/,
    );
  });

  it("looks for the functions the model's probes hook (the catalogue's), not the other model's", () => {
    const names = (m: 'old' | 'new') => DOCTOR_KEY_FUNCTIONS[m].flat();
    for (const m of ['old', 'new'] as const) {
      for (const probe of probesFor(m)) {
        for (const h of PROBE_CATALOGUE[probe].hooks[m])
          if (h.kind === 'function') expect(names(m)).toEqual(expect.arrayContaining([...h.names]));
      }
    }
    // devmap_put is old-model only, folio_unmap new-model only
    expect(names('old')).toContain('__put_devmap_managed_page_refs');
    expect(names('new')).not.toContain('__put_devmap_managed_folio_refs');
    expect(names('new')).toContain('folio_remove_rmap_ptes');
    expect(names('old')).not.toContain('folio_remove_rmap_ptes');
    // no function is listed twice
    for (const m of ['old', 'new'] as const) expect(new Set(names(m)).size).toBe(names(m).length);
  });

  it('exits 1 when the host offers nothing readable, each reader failure listed', async () => {
    const out = sink();
    const code = await runDoctor({
      json: false,
      out: out.stream,
      gather: {
        procRoot: NOWHERE,
        sysRoot: NOWHERE,
        bootRoot: NOWHERE,
        modulesRoot: NOWHERE,
        devRoot: NOWHERE,
        tools: false,
        progTypes: false,
      },
    });
    expect(code).toBe(1);
    expect(out.text()).toMatch(/Problems\n {2}- DAXMON_E_KALLSYMS_UNREADABLE/);
    expect(out.text()).toMatch(
      /Status: degraded \(exit 1\): \d+ problems listed; tracepoint, raw_tp, tp_btf, kprobe, fentry untested; no pmem\n$/,
    );
  });

  it('exits 2 with a coded message only when doctor itself fails', async () => {
    const broken = new Writable({
      write(_chunk, _enc, cb) {
        cb(new Error('EPIPE'));
      },
    });
    broken.on('error', () => {});
    const err = sink();
    const code = await runDoctor({
      json: true,
      out: broken,
      err: err.stream,
      gather: {
        procRoot: NOWHERE,
        sysRoot: NOWHERE,
        bootRoot: NOWHERE,
        modulesRoot: NOWHERE,
        devRoot: NOWHERE,
        tools: false,
        progTypes: false,
      },
    });
    expect(code).toBe(2);
    expect(err.text()).toMatch(/^DAXMON_E_DOCTOR_INTERNAL: daxmon doctor failed: EPIPE/);
  });

  it('daxmon doctor --help lists the exit statuses', async () => {
    const written: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    try {
      expect(await main(['doctor', '--help'])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    const help = written.join('');
    for (const line of [
      /^ {2}0 ready/m,
      /^ {2}1 degraded/m,
      /^ {2}2 usage error/m,
      /^ {2}3 no BPF program type loads/m,
    ])
      expect(help).toMatch(line);
  });
});
