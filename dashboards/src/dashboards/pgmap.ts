/**
 * Per-pgmap drill-down: one dev_pagemap's identity and where its folios are in their lifecycle.
 * Violations, waits and teardown histograms carry no pgmap label (it would multiply series by
 * pgmaps for little gain), so those panels are per instance and say so; /api/violations has the pgmap
 * of each violation.
 */
import { increase, rate, re, sum } from '../promql.js';
import { badAbove } from '../grafana/fields.js';
import { bargauge, stat, table, timeseries } from '../grafana/panels.js';
import type { DashboardSpec, PanelSpec } from '../grafana/spec.js';
import {
  RATE_WINDOW,
  datasourceVariable,
  dsel,
  instanceVariable,
  pgmapVariable,
} from '../grafana/variables.js';

const PGMAP = { pgmap: re('$pgmap') };
const folios = (matchers = {}): string => dsel('daxmon_pgmap_folios', { ...PGMAP, ...matchers });

const identity: PanelSpec[] = [
  table({
    title: 'pgmap',
    description:
      'The selected dev_pagemaps: type (MEMORY_DEVICE_FS_DAX, GENERIC for device-dax, PRIVATE, COHERENT, PCI_P2PDMA) and the device that registered them.',
    queries: [{ expr: dsel('daxmon_pgmap_info', PGMAP), instant: true, format: 'table' }],
    hide: ['Value', 'job'],
    core: true,
    w: 12,
    h: 6,
  }),
  stat({
    title: 'Folios tracked',
    description: 'Tracked folios in the selected pgmaps, all states.',
    queries: [{ expr: sum(folios()) }],
    unit: 'short',
    core: true,
    sparkline: true,
    w: 4,
    h: 6,
  }),
  stat({
    title: 'Folios in use',
    description:
      'Mapped, pinned or otherwise referenced folios: the ones a truncate would have to wait for and a teardown must not find.',
    queries: [{ expr: sum(folios({ state: re('mapped|pinned|referenced') })) }],
    unit: 'short',
    sparkline: true,
    w: 4,
    h: 6,
  }),
  stat({
    title: 'Uncertain folios',
    description:
      'Folios whose refcount daxmon cannot vouch for after lost events or a backend restart; checks skip them until re-read.',
    queries: [{ expr: sum(folios({ state: 'uncertain' })) }],
    unit: 'short',
    thresholds: badAbove(1),
    w: 4,
    h: 6,
  }),
];

const states: PanelSpec[] = [
  timeseries({
    title: 'Folios by state',
    description:
      'idle: at the idle refcount for this pgmap type and kernel model (FS DAX: 1 on old kernels, 0 on new). mapped: in page tables. pinned: GUP-pinned. referenced: extra references without a mapping. free: handed back via free_zone_device_folio. mapped_unknown (kernels before 6.15): mapped through a devmap entry at some point; whether it still is cannot be observed there (no unmap hook). uncertain: not vouched for.',
    queries: [{ expr: sum(folios(), ['pgmap', 'state']), legend: '{{pgmap}} {{state}}' }],
    unit: 'short',
    stack: true,
    core: true,
    legendTable: true,
    w: 16,
    h: 9,
  }),
  bargauge({
    title: 'Folios by state now',
    description: 'Current tracked folios by state in the selected pgmaps.',
    queries: [{ expr: sum(folios(), ['state']), legend: '{{state}}', instant: true }],
    unit: 'short',
    core: true,
    w: 8,
    h: 9,
  }),
  timeseries({
    title: 'Pinned share',
    description:
      'Pinned folios as a share of tracked ones. Pins on FS DAX block truncate until released; FOLL_LONGTERM pins must be refused outright.',
    queries: [
      {
        expr: `${sum(folios({ state: 'pinned' }), ['pgmap'])} / ${sum(folios(), ['pgmap'])}`,
        legend: '{{pgmap}}',
      },
    ],
    unit: 'percentunit',
    w: 12,
    h: 7,
  }),
  timeseries({
    title: 'Uncertain folios by pgmap',
    description: 'Uncertain folios over time; a step up lines up with lost events or a backend restart.',
    queries: [{ expr: sum(folios({ state: 'uncertain' }), ['pgmap']), legend: '{{pgmap}}' }],
    unit: 'short',
    w: 12,
    h: 7,
  }),
];

const instanceContext: PanelSpec[] = [
  timeseries({
    title: 'Violations on the instance (all pgmaps)',
    description:
      'Violations carry no pgmap label; this is every violation on the selected instances. /api/violations?pgmap=<id> narrows it to one pgmap.',
    queries: [
      {
        expr: sum(increase(dsel('daxmon_violations_total'), RATE_WINDOW), ['kind', 'severity']),
        legend: '{{kind}} ({{severity}})',
      },
    ],
    unit: 'short',
    bars: true,
    stack: true,
    w: 12,
    h: 7,
  }),
  timeseries({
    title: 'pgmap lifecycle and DAX entry events on the instance',
    description:
      'pgmap registration and teardown, and DAX entry insert/remove rates on the selected instances (events carry no pgmap label).',
    queries: [
      {
        expr: sum(
          rate(
            dsel('daxmon_events_total', {
              type: re(
                'pgmap_registered|pgmap_teardown_begin|pgmap_ref_released|pgmap_teardown_done|dax_entry_insert|dax_entry_remove',
              ),
            }),
            RATE_WINDOW,
          ),
          ['type'],
        ),
        legend: '{{type}}',
      },
    ],
    unit: 'cps',
    w: 12,
    h: 7,
  }),
];

export const pgmap: DashboardSpec = {
  uid: 'daxmon-pgmap',
  title: 'daxmon / pgmap',
  description: 'One dev_pagemap at a time: its type and device, and its tracked folios by state.',
  file: 'daxmon-pgmap.json',
  variables: [datasourceVariable(), instanceVariable(), pgmapVariable()],
  rows: [
    { title: 'pgmap $pgmap', panels: identity },
    { title: 'Folio states', panels: states },
    { title: 'Instance context (not per pgmap)', panels: instanceContext },
  ],
};
