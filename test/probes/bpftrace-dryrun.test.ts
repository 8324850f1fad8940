import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { assembleScript } from '../../src/probes/bpftrace/script.js';
import { loadSnippetLibrary } from '../../src/probes/bpftrace/snippet.js';
import { factsDevHost } from './bpftrace-facts.js';

function bpftraceVersion(): string | null {
  try {
    return execFileSync('bpftrace', ['--version'], {
      encoding: 'utf8',
      timeout: 10_000,
      stdio: 'pipe',
    }).trim();
  } catch {
    return null;
  }
}

const version = bpftraceVersion();
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
// bpftrace reads the tracepoints' argument layout from tracefs, even in a dry run.
const tracefs = ['/sys/kernel/tracing/events/fs_dax', '/sys/kernel/debug/tracing/events/fs_dax'].some((p) =>
  existsSync(p),
);
const skipReason =
  version === null
    ? 'bpftrace is not installed (apt-get install bpftrace)'
    : !isRoot
      ? 'bpftrace -d needs root'
      : !tracefs
        ? 'tracefs is not mounted or has no fs_dax events (mount -t tracefs nodev /sys/kernel/tracing)'
        : null;

describe('the assembled dev-host script is valid for the installed bpftrace', () => {
  it.skipIf(skipReason !== null)(
    `bpftrace -d (dry run: parse, semantic check, codegen, no attach) accepts it${skipReason ? ` — skipped: ${skipReason}` : ''}`,
    () => {
      const lib = loadSnippetLibrary(path.resolve(__dirname, '../../bpf/bpftrace'));
      const { script, included } = assembleScript(factsDevHost(), lib);
      expect(included.length).toBeGreaterThan(0);
      const r = spawnSync('bpftrace', ['-d', '-e', script], {
        encoding: 'utf8',
        timeout: 60_000,
        maxBuffer: 64 * 1024 * 1024,
      });
      const errors = (r.stderr ?? '').split('\n').filter((l) => /ERROR/.test(l) && !/RLIMIT_MEMLOCK/.test(l));
      expect(errors).toEqual([]);
      expect(r.status).toBe(0);
    },
    90_000,
  );
});
