import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bzImage } from '../helpers/bzimage.js';
import { compareToTruth } from '../vm/compare.js';
import { matrixFromEnv } from '../vm/matrix.js';
import { parseBpftraceCounts, renderProbeSelection, BPFTRACE_PROBES } from '../vm/observer-bpftrace.js';
import { SCENARIOS, scenariosFor } from '../vm/scenarios.js';
import type { Counts } from '../vm/observer.js';
import { only } from '../vm/truth.js';

describe('ground truth comparison', () => {
  const steps = ['write-faults', 'munmap'];
  const truth = {
    steps: {
      'write-faults': only({ pte_fault: 256, insert_page_mkwrite: 256 }),
      munmap: only({ free_zone_device: 256, busy_found: { min: 0, max: 2, why: 'timing' } }),
    },
    facts: { truncate_blocked: true },
  };

  it('passes when every step matches exactly', () => {
    const counts = new Map<number, Counts>([
      [101, { pte_fault: 256, insert_page_mkwrite: 256, gup_grab: 3 }],
      [102, { free_zone_device: 256, busy_found: 1 }],
    ]);
    const r = compareToTruth(truth, steps, 100, counts, ['put_devmap_managed'], { truncate_blocked: true });
    expect(r.mismatches).toEqual([]);
    expect(r.ok).toBe(true);
  });

  it('names the step, the counter and both numbers when a count is off', () => {
    const counts = new Map<number, Counts>([
      [101, { pte_fault: 256, insert_page_mkwrite: 0 }],
      [102, { free_zone_device: 255, pmd_fallback: 2 }],
    ]);
    const r = compareToTruth(truth, steps, 100, counts, [], { truncate_blocked: false });
    expect(r.mismatches).toEqual([
      'write-faults: insert_page_mkwrite expected 256, observed 0',
      'munmap: pmd_fallback expected 0, observed 2',
      'munmap: free_zone_device expected 256, observed 255',
      'fact truncate_blocked: expected true, workload reported false',
    ]);
  });

  it('refuses to pass a non-zero expectation the kernel cannot observe', () => {
    const r = compareToTruth(truth, steps, 100, new Map(), ['insert_page_mkwrite'], {
      truncate_blocked: true,
    });
    expect(r.mismatches).toContain(
      'write-faults: insert_page_mkwrite expected 256 but this kernel has no hook for it',
    );
  });

  it('lists what the observer cannot check instead of failing or skipping it silently', () => {
    const counts = new Map<number, Counts>([
      [101, { pte_fault: 256, insert_page_mkwrite: 256 }],
      [102, { free_zone_device: 256 }],
    ]);
    const r = compareToTruth(
      truth,
      steps,
      100,
      counts,
      [],
      { truncate_blocked: true },
      { insert_page_mkwrite: 'no probe', busy_found: 'no probe' },
    );
    expect(r.ok).toBe(true);
    expect(r.notCovered).toEqual([
      'write-faults: insert_page_mkwrite expected 256, not checked: no probe',
      'munmap: busy_found expected 0..2, not checked: no probe',
    ]);
  });
});

describe('scenario definitions', () => {
  it('every scenario states its truth for both models, only for steps it has', () => {
    for (const s of SCENARIOS) {
      for (const model of ['old', 'new'] as const) {
        const t = s.truth({ model, series: model === 'new' ? '7' : '6.12', pmem: 'memmap', fs: 'ext4' });
        for (const step of Object.keys(t.steps)) expect(s.steps, `${s.name}: ${step}`).toContain(step);
      }
    }
  });

  it('runs a destructive scenario last, and only one', () => {
    const fs = scenariosFor('fs');
    expect(fs.at(-1)?.name).toBe('unbind-mapped');
    expect(fs.filter((s) => s.destructive)).toHaveLength(1);
    expect(scenariosFor('devdax').map((s) => s.name)).toEqual(['devdax-map', 'devdax-unbind']);
  });

  it('builds the matrix from the environment', () => {
    expect(matrixFromEnv({ DAXMON_VM_OBSERVER: 'bpftrace' }).map((c) => c.label)).toEqual([
      '7/memmap/ext4/bpftrace',
      '7/memmap/xfs/bpftrace',
      '7/nvdimm-fsdax/xfs/bpftrace',
      '7/nvdimm-devdax/bpftrace',
      '6.12/memmap/ext4/bpftrace',
      '6.12/memmap/xfs/bpftrace',
      '6.12/nvdimm-devdax/bpftrace',
      '6.1/memmap/ext4/bpftrace',
      '6.1/memmap/xfs/bpftrace',
      '6.1/nvdimm-devdax/bpftrace',
    ]);
    expect(
      matrixFromEnv({ DAXMON_VM_KERNELS: '7,6.1', DAXMON_VM_FS: 'xfs', DAXMON_VM_PMEM: 'memmap' }).map(
        (c) => c.label,
      ),
    ).toEqual([
      '7/memmap/xfs/bpftrace',
      '6.1/memmap/xfs/bpftrace',
      '7/memmap/xfs/daxmon-libbpf',
      '6.1/memmap/xfs/daxmon-libbpf',
    ]);
    expect(
      matrixFromEnv({
        DAXMON_VM_KERNELS: '6.12',
        DAXMON_VM_PMEM: 'nvdimm-devdax',
        DAXMON_VM_OBSERVER: 'daxmon-bpftrace',
      }).map((c) => [c.label, c.observer]),
    ).toEqual([['6.12/nvdimm-devdax/daxmon-bpftrace', 'daxmon-bpftrace']]);
    expect(() => matrixFromEnv({ DAXMON_VM_KERNELS: '5.10' })).toThrow(
      expect.objectContaining({ code: 'DAXMON_E_VM_KERNEL_SERIES' }),
    );
    expect(() => matrixFromEnv({ DAXMON_VM_FS: 'btrfs' })).toThrow(
      expect.objectContaining({ code: 'DAXMON_E_VM_CONFIG' }),
    );
    expect(() => matrixFromEnv({ DAXMON_VM_OBSERVER: 'perf' })).toThrow(
      expect.objectContaining({ code: 'DAXMON_E_VM_CONFIG' }),
    );
  });

  it('runs the matrix on a kernel the developer built, judged by the truths of its series', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxmon-matrix-user-'));
    try {
      const image = path.join(dir, 'bzImage');
      fs.writeFileSync(image, bzImage('7.3.4-dirty (me@host) #3 SMP PREEMPT'));
      const cases = matrixFromEnv({
        DAXMON_VM_USER_KERNEL: image,
        DAXMON_VM_USER_CONFIG: '/c',
        DAXMON_VM_FS: 'xfs',
      });
      expect(cases.map((c) => [c.label, c.series, c.user?.release])).toEqual([
        ['user-7.3.4-dirty/memmap/xfs/bpftrace', '7', '7.3.4-dirty'],
        ['user-7.3.4-dirty/nvdimm-fsdax/xfs/bpftrace', '7', '7.3.4-dirty'],
        ['user-7.3.4-dirty/nvdimm-devdax/bpftrace', '7', '7.3.4-dirty'],
        ['user-7.3.4-dirty/memmap/xfs/daxmon-libbpf', '7', '7.3.4-dirty'],
      ]);
      expect(cases[0]!.user!.source).toEqual({ image, config: '/c' });
      // Debian's kernels too, when DAXMON_VM_KERNELS asks for them
      expect(
        matrixFromEnv({
          DAXMON_VM_USER_KERNEL: image,
          DAXMON_VM_KERNELS: '6.1',
          DAXMON_VM_PMEM: 'memmap',
          DAXMON_VM_FS: 'ext4',
          DAXMON_VM_OBSERVER: 'bpftrace',
        }).map((c) => c.label),
      ).toEqual(['6.1/memmap/ext4/bpftrace', 'user-7.3.4-dirty/memmap/ext4/bpftrace']);
      // an old-model 6.13 is judged as 6.12; a tree names its release in include/config
      const tree = path.join(dir, 'tree');
      fs.mkdirSync(path.join(tree, 'include', 'config'), { recursive: true });
      fs.writeFileSync(path.join(tree, 'include', 'config', 'kernel.release'), '6.13.2\n');
      expect(
        matrixFromEnv({
          DAXMON_VM_KERNEL_TREE: tree,
          DAXMON_VM_PMEM: 'memmap',
          DAXMON_VM_FS: 'ext4',
          DAXMON_VM_OBSERVER: 'bpftrace',
        }).map((c) => [c.label, c.series]),
      ).toEqual([['user-6.13.2/memmap/ext4/bpftrace', '6.12']]);
      expect(() => matrixFromEnv({ DAXMON_VM_USER_KERNEL: image, DAXMON_VM_KERNEL_TREE: tree })).toThrow(
        expect.objectContaining({ code: 'DAXMON_E_VM_CONFIG' }),
      );
      expect(() => matrixFromEnv({ DAXMON_VM_USER_MODULES: dir })).toThrow(
        expect.objectContaining({ code: 'DAXMON_E_VM_CONFIG' }),
      );
      fs.writeFileSync(image, 'not a kernel');
      expect(() => matrixFromEnv({ DAXMON_VM_USER_KERNEL: image })).toThrow(
        expect.objectContaining({ code: 'DAXMON_E_VM_USER_KERNEL' }),
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives daxmon observers the memmap boots unless DAXMON_VM_PMEM names the NVDIMM setups', () => {
    expect(matrixFromEnv({ DAXMON_VM_KERNELS: '7' }).map((c) => c.label)).toEqual([
      '7/memmap/ext4/bpftrace',
      '7/memmap/xfs/bpftrace',
      '7/nvdimm-fsdax/xfs/bpftrace',
      '7/nvdimm-devdax/bpftrace',
      '7/memmap/ext4/daxmon-libbpf',
      '7/memmap/xfs/daxmon-libbpf',
    ]);
    expect(
      matrixFromEnv({
        DAXMON_VM_KERNELS: '6.1',
        DAXMON_VM_PMEM: 'nvdimm-devdax',
        DAXMON_VM_OBSERVER: 'daxmon-libbpf',
      }).map((c) => c.label),
    ).toEqual(['6.1/nvdimm-devdax/daxmon-libbpf']);
  });
});

describe('bpftrace observer', () => {
  it('reads the last printed map, keyed by phase and counter', () => {
    const out = [
      '{"type": "attached_probes", "data": {"probes": 24}}',
      '{"type": "printf", "data": "DAXMON_OBSERVER_ATTACHED\\n"}',
      '{"type": "map", "data": {"@c": {"101,pte_fault": 256, "101,insert_page_mkwrite": 256, "103,free_zone_device": 256, "0,busy_scan": 2}}}',
      '{"type": "printf", "data": "DAXMON_OBSERVER_DUMPED\\n"}',
    ].join('\n');
    const c = parseBpftraceCounts(out);
    expect(c.get(101)).toEqual({ pte_fault: 256, insert_page_mkwrite: 256 });
    expect(c.get(103)).toEqual({ free_zone_device: 256 });
    expect(c.get(0)).toEqual({ busy_scan: 2 });
  });

  it('attaches each counter to the first symbol the kernel has, limited to the workload', () => {
    const sh = renderProbeSelection(BPFTRACE_PROBES, '/tmp/o.bt', '/tmp/o.map');
    expect(sh).toContain(
      `{ obs_ksym free_zone_device_folio && echo 'kprobe:free_zone_device_folio /comm == "daxwl"/ { @c[@phase, "free_zone_device"] = count(); }' >> /tmp/o.bt`,
    );
    expect(sh).toContain('|| { obs_ksym free_zone_device_page &&');
    expect(sh).toContain('kprobe:memunmap_pages { @c[@phase, "memunmap_pages"] = count(); }');
    expect(sh).toContain('/comm == "daxwl" && (args->result & 2048) == 0/');
  });
});
