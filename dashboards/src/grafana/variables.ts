/**
 * Template variables shared by the daxmon dashboards, and the selector every panel query goes
 * through so that none can forget the `instance` filter.
 */
import { VariableHide, VariableRefresh, VariableSort } from '@grafana/schema';
import type { DataSourceRef, VariableModel } from '@grafana/schema';
import type { SeriesName } from '../metrics-contract.js';
import { re, selector } from '../promql.js';
import type { Matchers } from '../promql.js';

/** Panels and targets point at the datasource variable, never at a fixed uid, so imports just work. */
export const DATASOURCE: DataSourceRef = { type: 'prometheus', uid: '${datasource}' };

/** Grafana picks a rate window of at least four scrape intervals; panels must use it, not `[1m]`. */
export const RATE_WINDOW = '$__rate_interval';
/** The dashboard's whole time range, for "how many in the range" stats. */
export const RANGE = '$__range';

/** A selector scoped to the instances picked in the `instance` variable. */
export function dsel(name: SeriesName, matchers: Matchers = {}): string {
  return selector(name, { instance: re('$instance'), ...matchers });
}

export function datasourceVariable(): VariableModel {
  return {
    name: 'datasource',
    label: 'Data source',
    type: 'datasource',
    query: 'prometheus',
    hide: VariableHide.dontHide,
    refresh: VariableRefresh.onDashboardLoad,
    regex: '',
    skipUrlSync: false,
  };
}

function queryVariable(name: string, label: string, query: string, description: string): VariableModel {
  return {
    name,
    label,
    description,
    type: 'query',
    datasource: DATASOURCE,
    query,
    refresh: VariableRefresh.onTimeRangeChanged,
    sort: VariableSort.alphabeticalAsc,
    multi: true,
    includeAll: true,
    // `.*` rather than Grafana's list of every value keeps the regex short on large fleets.
    allValue: '.*',
    current: { selected: true, text: 'All', value: '$__all' },
    hide: VariableHide.dontHide,
    regex: '',
    skipUrlSync: false,
  };
}

/** daxmon_kernel_info is exported from start-up on, so every running daxmon shows up here. */
export function instanceVariable(): VariableModel {
  return queryVariable(
    'instance',
    'Instance',
    'label_values(daxmon_kernel_info, instance)',
    'daxmon targets (from daxmon_kernel_info).',
  );
}

export function pgmapVariable(): VariableModel {
  return queryVariable(
    'pgmap',
    'pgmap',
    'label_values(daxmon_pgmap_info{instance=~"$instance"}, pgmap)',
    'dev_pagemap ids known to daxmon on the selected instances (from daxmon_pgmap_info).',
  );
}

/** `up` is the only series that needs the scrape job's name; users with another job name change it here. */
export function jobVariable(): VariableModel {
  return {
    name: 'job',
    label: 'Scrape job',
    description: 'Prometheus job name that scrapes daxmon (used for the `up` series only).',
    type: 'textbox',
    query: 'daxmon',
    current: { text: 'daxmon', value: 'daxmon' },
    hide: VariableHide.dontHide,
    skipUrlSync: false,
  };
}

/** Variables referenced by a dashboard's queries, in the order they must be resolved. */
export const VARIABLE_NAMES = ['datasource', 'job', 'instance', 'pgmap'] as const;
