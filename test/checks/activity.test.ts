import { describe, expect, it } from 'vitest';
import { Stream } from '../helpers/events.js';
import { run } from '../helpers/pipeline.js';

// /api/checks is engine.activity(): an inactive check must say which probes it lacks and why, in the
// words of the backend that tried to attach them (the restricted host refuses fentry and kprobes).
describe('check activity', () => {
  it('an inactive check names each missing probe with the backend detail of why it is missing', () => {
    const s = new Stream('new').probes(['dax_fault_pte', 'dax_fault_pmd']);
    s.push('probe_status', {
      backend: 'libbpf',
      probe: 'zone_device_free',
      attached: false,
      detail: 'free_zone_device_folio: fentry refused (EPERM), kprobe refused (ENOENT)',
    });
    const r = run('new', s, { assumeProbes: false });
    const by = Object.fromEntries(r.pipeline.engine.activity().map((a) => [a.kind, a]));
    expect(by.free_while_mapped).toMatchObject({
      active: false,
      missing: [
        {
          probe: 'zone_device_free',
          why: 'libbpf: free_zone_device_folio: fentry refused (EPERM), kprobe refused (ENOENT)',
        },
      ],
    });
    expect(by.free_while_mapped!.reason).toContain('fentry refused (EPERM)');
    // The struct-page scanner is not part of libbpf: it declares `scan` when it first reads pages.
    expect(by.compound_pgmap_mismatch!.missing).toEqual([
      { probe: 'scan', why: expect.stringContaining('no struct-page scan has completed yet') },
    ]);
  });

  it('an active check has no missing list; V11 also reports the refused FOLL_LONGTERM pins', () => {
    const s = new Stream('new').probes(['gup_grab', 'gup_longterm_check']);
    s.push('gup_longterm_refused', { flags: 0x80102, result: -95 });
    s.push('gup_longterm_refused', { flags: 0x80102, result: -95 });
    const r = run('new', s, { assumeProbes: false });
    const lt = r.pipeline.engine.activity().find((a) => a.kind === 'longterm_pin_on_fsdax')!;
    expect(lt).toMatchObject({ active: true, refused: 2, violations: 0 });
    expect(lt).not.toHaveProperty('missing');
  });
});
