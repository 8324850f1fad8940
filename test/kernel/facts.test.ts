import { describe, expect, it } from 'vitest';
import { hasFunction, hasTracepoint } from '../../src/kernel/facts.js';
import type { KernelFacts } from '../../src/kernel/facts.js';
import { gatherKernelFacts } from '../../src/kernel/gather.js';
import { fixture } from './helpers/fixtures.js';

describe('KernelFacts helpers', () => {
  it('answer function and tracepoint presence from gathered facts', async () => {
    const facts: KernelFacts = await gatherKernelFacts({
      release: '6.18.44-fc-v669',
      procRoot: fixture('host-6.18', 'proc'),
      sysRoot: fixture('tracefs', 'sys'),
      bootRoot: fixture('host-6.18', 'boot'),
      devRoot: '/nonexistent-daxmon-root',
      progTypes: false,
      tools: false,
      pmem: false,
    });
    expect(hasFunction(facts, 'free_zone_device_folio')).toBe(true);
    // Clones are not attachable by the plain name (kallsyms.ts findFunction reports them).
    expect(hasFunction(facts, 'dax_folio_put')).toBe(false);
    expect(hasTracepoint(facts, 'fs_dax', 'dax_pte_fault_done')).toBe(true);
    expect(hasTracepoint(facts, 'fs_dax', 'dax_insert_mapping')).toBe(false);
    expect(facts.pmem).toBeUndefined();
  });
});
