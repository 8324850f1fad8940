/**
 * What a skipped run of each probe's program can make wrong (docs/kernel-model.md §11).
 *
 * A missed run carries no pfn, so the scope is never one folio:
 * - `folios`: the probe updates per-folio counts or lifecycle (map, unmap, free, entry insert and
 *   remove, GUP, puts, pgmap lifecycle): every tracked folio becomes uncertain until a scan
 *   re-reads it.
 * - `waits`: the probe opens, closes or feeds layout-break waits (a missed begin or end, a missed
 *   busy page): open waits become uncertain (busy_wait_stuck rests on none of them).
 * - `none`: the probe only informs (fault completions, long-term GUP refusals counted as such).
 * An unknown probe is treated as `folios`: a probe nobody classified is not assumed harmless.
 */
export type MissScope = 'folios' | 'waits' | 'none';

const SCOPES: Readonly<Record<string, MissScope>> = {
  pgmap_register: 'folios',
  pgmap_teardown: 'folios',
  pgmap_ref_release: 'folios',
  dax_fault_pte: 'none',
  dax_fault_pmd: 'none',
  dax_entry_insert: 'folios',
  dax_entry_remove: 'folios',
  folio_map_pte: 'folios',
  folio_map_pmd: 'folios',
  folio_map_pud: 'folios',
  folio_unmap: 'folios',
  gup_grab: 'folios',
  gup_put: 'folios',
  gup_longterm_check: 'none',
  devmap_put: 'folios',
  folio_idle: 'folios',
  zone_device_free: 'folios',
  busy_page: 'waits',
  layout_break: 'waits',
  layout_break_sleep: 'waits',
};

export function missScope(probe: string): MissScope {
  return Object.hasOwn(SCOPES, probe) ? SCOPES[probe]! : 'folios';
}
