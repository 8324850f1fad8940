import { describe, expect, it } from 'vitest';
import { readiness } from '../../src/daemon/readiness.js';
import type { DaxEvent } from '../../src/events/types.js';
import { buildPipeline } from '../../src/pipeline.js';
import { Stream } from '../helpers/events.js';

const backends = { supervisors: [{ backend: 'libbpf', up: true }], unavailableList: () => '' };

function readinessAfter(events: DaxEvent[]) {
  const p = buildPipeline({ model: 'new', kernelRelease: '7.3.4', sink: { violation: () => {} } });
  for (const e of events) p.ingest(e);
  return readiness(p.state, p.engine, backends as unknown as Parameters<typeof readiness>[2]);
}

const scanDeclared = (s: Stream): Stream =>
  s.push('probe_status', {
    backend: 'scan',
    probe: 'scan',
    attached: true,
    detail: 'struct-page scanner reading pages',
  });

describe('/readyz', () => {
  it('is not ready when only the struct-page scanner is attached, though V7 is active', () => {
    const s = scanDeclared(new Stream('new'));
    const p = buildPipeline({ model: 'new', kernelRelease: '7.3.4', sink: { violation: () => {} } });
    for (const e of s.events) p.ingest(e);
    expect(p.engine.activity().find((c) => c.kind === 'compound_pgmap_mismatch')?.active).toBe(true);
    expect(readinessAfter(s.events)).toEqual({ ready: false, reason: 'no probe attached yet' });
  });

  it('is ready once the event backend has attached probes that a check needs', () => {
    const s = scanDeclared(new Stream('new')).probes(['dax_fault_pte', 'folio_map_pte', 'zone_device_free']);
    const r = readinessAfter(s.events);
    expect(r.ready).toBe(true);
    expect(r.reason).toMatch(
      /^3 probe\(s\) attached: libbpf:dax_fault_pte, libbpf:folio_map_pte, libbpf:zone_device_free; \d+ check\(s\) active$/,
    );
  });
});
