import { describe, expect, it } from 'vitest';
import type { CommandRunner } from '../../src/kernel/exec.js';
import {
  parseBpftoolVersion,
  parseBpftraceVersion,
  parseClangVersion,
  parseDebianUpstreamVersion,
  parsePkgConfigVersion,
  readToolVersions,
} from '../../src/kernel/tools.js';

describe('tool versions', () => {
  it('parses what the tools print on Debian bookworm', () => {
    expect(parseBpftraceVersion('bpftrace v0.17.0')).toBe('0.17.0');
    expect(parseClangVersion('Debian clang version 14.0.6\nTarget: x86_64-pc-linux-gnu')).toBe('14.0.6');
    expect(parseClangVersion('clang version 18.1.8 (Fedora 18.1.8-1.fc40)')).toBe('18.1.8');
    expect(parseBpftoolVersion('bpftool v7.1.0\nusing libbpf v1.1\nfeatures: libbpf_strict')).toBe('7.1.0');
    expect(parsePkgConfigVersion('1.1.2\n')).toBe('1.1.2');
    expect(parsePkgConfigVersion('Package libbpf was not found')).toBeNull();
    expect(parseDebianUpstreamVersion('1:1.1.2-0+deb12u1')).toBe('1.1.2');
    expect(parseDebianUpstreamVersion('')).toBeNull();
  });

  it('falls back to dpkg for libbpf and reports missing tools as null', async () => {
    const calls: string[] = [];
    const run: CommandRunner = async (command, args) => {
      calls.push(`${command} ${args.join(' ')}`);
      if (command === 'clang') return { exitCode: 0, stdout: 'Debian clang version 14.0.6', stderr: '' };
      if (command === 'dpkg-query' && args.includes('libbpf1')) {
        return { exitCode: 0, stdout: '1:1.1.2-0+deb12u1', stderr: '' };
      }
      if (command === 'pkg-config') return { exitCode: 1, stdout: '', stderr: 'not found' };
      return { exitCode: null, stdout: '', stderr: '', error: 'ENOENT' };
    };
    const v = await readToolVersions({ run });
    expect(v).toEqual({
      bpftrace: null,
      clang: { version: '14.0.6', source: 'clang --version' },
      libbpf: { version: '1.1.2', source: 'dpkg libbpf1' },
      bpftool: null,
    });
    expect(calls).toContain('dpkg-query -W -f=${Version} libbpf1');
  });
});

describe('tool versions on a slow host', () => {
  it('a tool that is there but times out is "version unknown", not "not installed"', async () => {
    const run: CommandRunner = async (command) =>
      command === 'bpftrace'
        ? { exitCode: null, stdout: '', stderr: '', error: 'timed out after 10000 ms' }
        : command === 'clang'
          ? { exitCode: 0, stdout: 'something unexpected', stderr: '' }
          : { exitCode: null, stdout: '', stderr: '', error: 'ENOENT' };
    const v = await readToolVersions({ run });
    expect(v.bpftrace).toEqual({
      version: null,
      source: 'bpftrace --version',
      problem: 'bpftrace --version failed (timed out after 10000 ms)',
    });
    expect(v.clang?.version).toBeNull();
    expect(v.clang?.problem).toMatch(/printed no version/);
    expect(v.bpftool).toBeNull();
    expect(v.libbpf).toBeNull();
  });
});
