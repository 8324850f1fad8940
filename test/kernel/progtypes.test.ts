import { chmod, mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BPFCHECK_NOT_BUILT,
  capsAllowBpf,
  parseBpfcheckOutput,
  parseCapEff,
  probeProgTypes,
} from '../../src/kernel/progtypes.js';
import { RESTRICTED_HOST_JSON } from './helpers/bpfcheck.js';

async function fakeChecker(script: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'daxmon-bpfcheck-'));
  const bin = path.join(dir, 'daxmon-bpfcheck');
  await writeFile(bin, `#!/bin/sh\n${script}\n`);
  await chmod(bin, 0o755);
  return bin;
}

describe('BPF program types', () => {
  it('a checkout without the checker says so, in the words the user needs', async () => {
    const r = await probeProgTypes({ bpfcheckPath: '/nonexistent/daxmon-bpfcheck' });
    expect(r.results.kprobe).toEqual({ loads: null, detail: BPFCHECK_NOT_BUILT });
    expect(BPFCHECK_NOT_BUILT).toBe('daxmon-bpfcheck not built: run npm run build:bpf');
    expect(r.reason).toMatch(/^DAXMON_E_BPFCHECK_MISSING/);
  });

  it('runs the checker with --json and reports each type (tracepoints load, kprobe and fentry refused)', async () => {
    const bin = await fakeChecker(`[ "$1" = "--json" ] || exit 9\necho '${RESTRICTED_HOST_JSON}'\nexit 1`);
    const r = await probeProgTypes({ bpfcheckPath: bin, assumePrivileged: true });
    expect(r.reason).toBeUndefined();
    expect(r.results.tracepoint.loads).toBe(true);
    expect(r.results.tp_btf.loads).toBe(true);
    expect(r.results.kprobe).toEqual({ loads: false, detail: 'attach: ENOENT (CONFIG_KPROBES=n?)' });
    expect(r.results.fentry.loads).toBe(false);
  });

  it('without CAP_BPF (not root) nothing is tried and the reason says how to run it', async () => {
    const bin = await fakeChecker(`echo '${RESTRICTED_HOST_JSON}'`);
    const proc = await mkdtemp(path.join(os.tmpdir(), 'daxmon-proc-'));
    await mkdir(path.join(proc, 'self'));
    await writeFile(path.join(proc, 'self', 'status'), 'Name:\tnode\nCapEff:\t0000000000000000\n');
    const r = await probeProgTypes({ bpfcheckPath: bin, procRoot: proc });
    expect(r.results.tracepoint.loads).toBeNull();
    expect(r.results.tracepoint.detail).toMatch(/not root and no CAP_BPF.*sudo daxmon doctor/);
    expect(r.reason).toMatch(/^DAXMON_E_BPFCHECK_NO_PRIVILEGE/);
  });

  it('without capabilities but with the launcher, the checker runs through it (daxmon-caps CHECKER --json)', async () => {
    const bin = await fakeChecker('exit 9');
    const launcher = await fakeChecker(
      `[ "$1" = "${bin}" ] && [ "$2" = "--json" ] || exit 9\necho '${RESTRICTED_HOST_JSON}'`,
    );
    const proc = await mkdtemp(path.join(os.tmpdir(), 'daxmon-proc-'));
    await mkdir(path.join(proc, 'self'));
    await writeFile(path.join(proc, 'self', 'status'), 'Name:\tnode\nCapEff:\t0000000000000000\n');
    const r = await probeProgTypes({ bpfcheckPath: bin, procRoot: proc, launcher });
    expect(r.reason).toBeUndefined();
    expect(r.results.tp_btf.loads).toBe(true);
    expect(r.results.fentry.loads).toBe(false);
    // and without one the reason names it
    const direct = await probeProgTypes({ bpfcheckPath: bin, procRoot: proc, launcher: null });
    expect(direct.results.tp_btf.detail).toMatch(/no DAXMON_CAPS_LAUNCHER.*docs\/privileges\.md/);
  });

  it('a checker that crashes or prints garbage gives loads:null with what happened', async () => {
    const bin = await fakeChecker('echo "libbpf: something broke" >&2\nexit 3');
    const r = await probeProgTypes({ bpfcheckPath: bin, assumePrivileged: true });
    expect(r.results.fentry.loads).toBeNull();
    expect(r.results.fentry.detail).toMatch(/daxmon-bpfcheck failed \(exit 3: libbpf: something broke;/);
    expect(r.reason).toMatch(/^DAXMON_E_BPFCHECK_FAILED/);
  });

  it('a hanging checker is killed by the timeout', async () => {
    const bin = await fakeChecker('sleep 30');
    const r = await probeProgTypes({ bpfcheckPath: bin, assumePrivileged: true, timeoutMs: 300 });
    expect(r.results.tracepoint.detail).toMatch(/timed out after 300 ms/);
  });

  it('validates the JSON shape: missing types are untested, unknown keys ignored', () => {
    const r = parseBpfcheckOutput(
      '{"tracepoint":{"loads":true,"detail":"ok"},"kprobe":{"loads":"yes"},"uprobe":{}}',
    );
    expect(r.tracepoint).toEqual({ loads: true, detail: 'ok' });
    expect(r.kprobe).toEqual({ loads: null, detail: 'daxmon-bpfcheck gave no answer for kprobe' });
    expect(r.fentry).toEqual({ loads: null, detail: 'daxmon-bpfcheck did not report fentry' });
    expect(() => parseBpfcheckOutput('[]')).toThrow(/not an object/);
  });

  it('knows which capabilities allow loading tracing programs', () => {
    expect(parseCapEff('CapEff:\t000001ffffffffff\n')).toBe(0x1ffffffffffn);
    expect(parseCapEff('nothing')).toBeNull();
    expect(capsAllowBpf(1n << 21n)).toBe(true); // CAP_SYS_ADMIN
    expect(capsAllowBpf((1n << 39n) | (1n << 38n))).toBe(true); // CAP_BPF + CAP_PERFMON
    expect(capsAllowBpf(1n << 39n)).toBe(false); // CAP_BPF alone cannot load tracing programs
    expect(capsAllowBpf(0n)).toBe(false);
  });
});
