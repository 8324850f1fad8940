import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DaxEvent } from '../../src/events/types.js';
import type { BackendLog } from '../../src/probes/backend.js';
import {
  createBpftraceBackend,
  parseBpftraceVersion,
  perfPagesPerCpu,
} from '../../src/probes/bpftrace/backend.js';
import { facts73, factsDevHost } from './bpftrace-facts.js';

const bpftraceDir = path.resolve(__dirname, '../../bpf/bpftrace');
const opts = { strict: false, bpfBuildDir: 'bpf/build', bpftraceDir };
const quiet: BackendLog = { debug() {}, info() {}, warn() {}, error() {} };

describe('bpftrace backend', () => {
  it('is not available to a non-root daxmon: bpftrace refuses a non-zero euid (docs/privileges.md)', () => {
    const be = createBpftraceBackend({
      probeVersion: () => ({ ok: true, version: 'bpftrace v0.17.0' }),
      euid: () => 998,
    });
    expect(be.available(facts73())).toEqual({
      ok: false,
      reason: expect.stringMatching(/^DAXMON_E_BPFTRACE_NOT_ROOT: .*euid 998.*--backend libbpf/),
    });
    const root = createBpftraceBackend({
      probeVersion: () => ({ ok: true, version: 'bpftrace v0.17.0' }),
      euid: () => 0,
    });
    expect(root.available(facts73())).toEqual({ ok: true });
  });

  it('is available with bpftrace >= 0.17, and says why not otherwise', () => {
    const ok = createBpftraceBackend({ probeVersion: () => ({ ok: true, version: 'bpftrace v0.17.0' }) });
    expect(ok.available(facts73())).toEqual({ ok: true });
    const old = createBpftraceBackend({ probeVersion: () => ({ ok: true, version: 'bpftrace v0.16.0' }) });
    expect(old.available(facts73())).toEqual({
      ok: false,
      reason: expect.stringMatching(/DAXMON_E_BPFTRACE_VERSION.*0\.16\.0/),
    });
    const none = createBpftraceBackend({
      probeVersion: () => ({ ok: false, reason: 'DAXMON_E_BPFTRACE_NOT_FOUND: x' }),
    });
    expect(none.available(facts73()).ok).toBe(false);
    const odd = createBpftraceBackend({ probeVersion: () => ({ ok: true, version: 'weird' }) });
    expect(odd.available(facts73())).toMatchObject({ ok: false });
    expect(parseBpftraceVersion('bpftrace v0.21.2')).toEqual([0, 21, 2]);
  });

  it('plans an unbuffered bpftrace with a large perf buffer, listing attachable and unavailable probes', () => {
    const b = createBpftraceBackend({ cpus: 2, log: quiet });
    const launch = b.plan(factsDevHost(), opts);
    expect(launch.command).toBe('bpftrace');
    expect(launch.args.slice(0, 3)).toEqual(['-B', 'none', '-e']);
    expect(launch.args).not.toContain('--unsafe');
    expect(launch.env).toMatchObject({ BPFTRACE_PERF_RB_PAGES: '4096' });
    expect(launch.probes.sort()).toEqual(['dax_fault_pmd', 'dax_fault_pte']);
    expect(launch.unavailable.map((u) => u.probe)).toContain('zone_device_free');
    expect(b.lastScript()?.script).toBe(launch.args[3]);
  });

  it('decodes stdout and reports attach success once BEGIN ran', () => {
    const launch = createBpftraceBackend({ log: quiet }).plan(factsDevHost(), opts);
    const events: DaxEvent[] = [];
    launch.stdout.push(
      Buffer.from('Attaching 3 probes...\nV\t1\t10\tnew\nF\t11\t5\t0\t7\t12\t3\t1\t256\tpy\n'),
      (e) => events.push(e),
    );
    launch.stdout.end((e) => events.push(e));
    expect(
      events.filter((e) => e.type === 'probe_status').map((e) => (e as { probe: string }).probe),
    ).toEqual(['dax_fault_pte', 'dax_fault_pmd']);
    expect(events.at(-1)).toMatchObject({ type: 'dax_fault', pgoff: 3, write: true });
  });

  it('an attach failure is reported and that probe is left out of the next plan', () => {
    const b = createBpftraceBackend({ log: quiet });
    const launch = b.plan(facts73(), opts);
    const events: DaxEvent[] = [];
    launch.onStderrLine(
      "ERROR: Error attaching probe: 'kprobe:dax_disassociate_entry.isra.0'",
      (e) => events.push(e),
      quiet,
    );
    expect(events).toEqual([
      expect.objectContaining({ type: 'probe_status', probe: 'dax_entry_remove', attached: false }),
    ]);
    const next = b.plan(facts73(), opts);
    expect(next.probes).not.toContain('dax_entry_remove');
    expect(next.unavailable).toContainEqual({
      probe: 'dax_entry_remove',
      reason: expect.stringMatching(/earlier run/),
    });
    launch.onStderrLine('Lost 5 events', (e) => events.push(e), quiet);
    expect(events.at(-1)).toMatchObject({ type: 'events_lost', backend: 'bpftrace', count: 5 });
  });

  it('--strict makes an unavailable probe fatal with a stable code', () => {
    expect(() => createBpftraceBackend().plan(factsDevHost(), { ...opts, strict: true })).toThrow(
      expect.objectContaining({ code: 'DAXMON_E_BPFTRACE_PROBE_UNAVAILABLE' }),
    );
  });

  it('refuses to start a script with no probe at all', () => {
    const f = factsDevHost();
    expect(() =>
      createBpftraceBackend().plan(
        { ...f, progTypes: { ...f.progTypes, tracepoint: { loads: false, detail: 'EPERM' } } },
        opts,
      ),
    ).toThrow(expect.objectContaining({ code: 'DAXMON_E_BPFTRACE_NO_PROBES' }));
  });

  it('sizes the perf buffer per CPU: 64 MiB in total, 256 KiB..16 MiB per CPU, a power of two', () => {
    expect(perfPagesPerCpu(1)).toBe(4096);
    expect(perfPagesPerCpu(2)).toBe(4096);
    expect(perfPagesPerCpu(8)).toBe(2048);
    expect(perfPagesPerCpu(48)).toBe(256);
    expect(perfPagesPerCpu(1024)).toBe(64);
  });
});
