import { describe, expect, it } from 'vitest';
import { ProgressView, advance, probeCount, progressText, scanDone } from '../../lab/src/progress.js';

function view(live: boolean) {
  let t = 0;
  let out = '';
  const v = new ProgressView({ live, write: (s) => (out += s) }, () => t);
  return {
    v,
    at: (ms: number) => (t = ms),
    out: () => out,
  };
}

describe('lab progress', () => {
  it('moves forward only', () => {
    const p = { stage: 'pmem-ready' as const, startMs: 0, stageMs: 5, scanned: false };
    expect(advance(p, 'initramfs', 10)).toBe(p);
    expect(advance(p, 'daxmon-starting', 10)).toEqual({ ...p, stage: 'daxmon-starting', stageMs: 10 });
  });

  it('reads the probe count from /api/state and the first scan from /metrics', () => {
    expect(probeCount({ probes: [{ attached: true }, { attached: false }, { attached: true }] })).toEqual({
      attached: 2,
      total: 3,
    });
    // The scanner's own `scan` probe is not one the user waits on.
    expect(
      probeCount({
        probes: [
          { backend: 'scan', probe: 'scan', attached: true },
          { backend: 'libbpf', probe: 'dax_fault_pte', attached: false },
        ],
      }),
    ).toEqual({ attached: 0, total: 1 });
    expect(probeCount({})).toBeUndefined();
    expect(probeCount(null)).toBeUndefined();
    expect(scanDone('# HELP x\ndaxmon_scan_last_success_timestamp_seconds 0\n')).toBe(false);
    expect(scanDone('daxmon_scan_last_success_timestamp_seconds 1764757200.5\n')).toBe(true);
    expect(scanDone('daxmon_scan_duration_seconds_count 1\n')).toBe(false);
  });

  it('writes one plain line per change when not on a terminal', () => {
    const { v, at, out } = view(false);
    at(14_000);
    v.stage('initramfs');
    v.stage('initramfs');
    at(40_000);
    v.stage('guest-up');
    v.line('  metrics: http://127.0.0.1:1/metrics');
    at(100_000);
    v.stage('daxmon-serving');
    v.probes({ attached: 3, total: 14 });
    v.probes({ attached: 3, total: 14 });
    v.tick();
    at(130_000);
    v.probes({ attached: 14, total: 14 });
    v.scanned();
    v.stage('ready');
    v.close();
    v.stage('stopping');
    expect(out().split('\n')).toEqual([
      'daxmon lab: kernel booting (at 0 s)',
      'daxmon lab: initramfs: loading modules, mounting the host root (at 14 s)',
      'daxmon lab: guest up: setting up pmem (at 40 s)',
      '  metrics: http://127.0.0.1:1/metrics',
      'daxmon lab: daxmon serving, attaching probes (at 100 s)',
      'daxmon lab: daxmon serving, attaching probes, probes attached 3 of 14 (at 100 s)',
      'daxmon lab: daxmon serving, attaching probes, probes attached 14 of 14 (at 130 s)',
      'daxmon lab: daxmon serving, attaching probes, probes attached 14 of 14, first scan done (at 130 s)',
      'daxmon lab: ready, probes attached 14 of 14, first scan done (at 130 s)',
      '',
    ]);
  });

  it('keeps one live line on a terminal, redrawn with the time, under permanent lines', () => {
    const { v, at, out } = view(true);
    at(3000);
    v.tick();
    v.line('[daxmon] hello');
    v.stage('daxmon-starting');
    v.close();
    expect(out()).toBe(
      [
        'daxmon lab: kernel booting (0 s in this stage, 0 s in all)',
        '\r\x1b[2Kdaxmon lab: kernel booting (3 s in this stage, 3 s in all)',
        '\r\x1b[2K[daxmon] hello\n',
        'daxmon lab: kernel booting (3 s in this stage, 3 s in all)',
        '\r\x1b[2Kdaxmon lab: daxmon starting (node is slow under emulation) (0 s in this stage, 3 s in all)',
        '\r\x1b[2K',
      ].join(''),
    );
    expect(progressText({ stage: 'ready', startMs: 0, stageMs: 0, scanned: false })).toBe(
      'daxmon lab: ready',
    );
  });
});
