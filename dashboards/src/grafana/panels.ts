/**
 * Panel builders. Each one fills the panel plugin's own option and field-config types from
 * @grafana/schema, so a missing required option or a wrong enum value is a compile error.
 */
import {
  AxisPlacement,
  BarGaugeDisplayMode,
  BarGaugeNamePlacement,
  BarGaugeSizing,
  BarGaugeValueMode,
  BigValueColorMode,
  BigValueGraphMode,
  BigValueJustifyMode,
  BigValueTextMode,
  FieldColorModeId,
  GraphDrawStyle,
  GraphGradientMode,
  GraphThresholdsStyleMode,
  HeatmapCellLayout,
  LegendDisplayMode,
  PercentChangeColorMode,
  SortOrder,
  StackingMode,
  TableCellDisplayMode,
  TableCellHeight,
  TooltipDisplayMode,
  VisibilityMode,
  VizOrientation,
} from '@grafana/schema';
import type {
  DataTransformerConfig,
  FieldConfigSource,
  ThresholdsConfig,
  ValueMapping,
} from '@grafana/schema';
import type {
  FieldConfig as TimeSeriesFieldConfig,
  Options as TimeSeriesOptions,
} from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen';
import type { Options as StatOptions } from '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen';
import {
  HeatmapColorMode,
  HeatmapColorScale,
  HeatmapSelectionMode,
} from '@grafana/schema/dist/esm/raw/composable/heatmap/panelcfg/x/HeatmapPanelCfg_types.gen';
import type {
  FieldConfig as HeatmapFieldConfig,
  Options as HeatmapOptions,
} from '@grafana/schema/dist/esm/raw/composable/heatmap/panelcfg/x/HeatmapPanelCfg_types.gen';
import type {
  FieldConfig as TableFieldConfig,
  Options as TableOptions,
} from '@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen';
import type { Options as BarGaugeOptions } from '@grafana/schema/dist/esm/raw/composable/bargauge/panelcfg/x/BarGaugePanelCfg_types.gen';
import type {
  FieldConfig as StateTimelineFieldConfig,
  Options as StateTimelineOptions,
} from '@grafana/schema/dist/esm/raw/composable/statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen';
import type { PanelSpec, Unit } from './spec.js';

import { NEUTRAL, fieldConfig } from './fields.js';
import { spec } from './panel-base.js';
import type { Common } from './panel-base.js';

export interface TimeSeriesArgs extends Common {
  readonly unit: Unit;
  readonly stack?: boolean;
  readonly bars?: boolean;
  /** Draw these thresholds as dashed lines (e.g. the busy-wait warning and error ages). */
  readonly thresholds?: ThresholdsConfig;
  readonly legendTable?: boolean;
  readonly min?: number;
}

export function timeseries(a: TimeSeriesArgs): PanelSpec {
  const options: TimeSeriesOptions = {
    legend: {
      displayMode: a.legendTable ? LegendDisplayMode.Table : LegendDisplayMode.List,
      placement: 'bottom',
      showLegend: true,
      calcs: a.legendTable ? ['lastNotNull', 'max'] : [],
    },
    tooltip: { mode: TooltipDisplayMode.Multi, sort: SortOrder.Descending },
  };
  const custom: TimeSeriesFieldConfig = {
    drawStyle: a.bars ? GraphDrawStyle.Bars : GraphDrawStyle.Line,
    lineWidth: 1,
    fillOpacity: a.stack || a.bars ? 60 : 10,
    gradientMode: GraphGradientMode.None,
    showPoints: VisibilityMode.Never,
    spanNulls: false,
    axisPlacement: AxisPlacement.Auto,
    axisSoftMin: a.min ?? 0,
    stacking: { mode: a.stack ? StackingMode.Normal : StackingMode.None, group: 'A' },
    thresholdsStyle: {
      mode: a.thresholds ? GraphThresholdsStyleMode.Dashed : GraphThresholdsStyleMode.Off,
    },
  };
  return spec(a, {
    type: 'timeseries',
    options: { ...options },
    fieldConfig: fieldConfig(
      a.unit,
      { ...custom },
      {
        color: { mode: FieldColorModeId.PaletteClassic },
        thresholds: a.thresholds ?? NEUTRAL,
      },
    ),
  });
}

export interface StatArgs extends Common {
  readonly unit: Unit;
  readonly thresholds?: ThresholdsConfig;
  readonly mappings?: ValueMapping[];
  /** Show the series name (e.g. the kernel release from a label) instead of the value. */
  readonly showName?: boolean;
  readonly sparkline?: boolean;
  readonly reducer?: 'lastNotNull' | 'sum' | 'max';
}

export function stat(a: StatArgs): PanelSpec {
  const options: StatOptions = {
    reduceOptions: { calcs: [a.reducer ?? 'lastNotNull'], fields: '', values: false },
    orientation: VizOrientation.Auto,
    textMode: a.showName ? BigValueTextMode.Name : BigValueTextMode.Auto,
    colorMode: a.showName ? BigValueColorMode.None : BigValueColorMode.Value,
    graphMode: a.sparkline ? BigValueGraphMode.Area : BigValueGraphMode.None,
    justifyMode: BigValueJustifyMode.Auto,
    showPercentChange: false,
    percentChangeColorMode: PercentChangeColorMode.Standard,
    wideLayout: true,
  };
  return spec(a, {
    type: 'stat',
    options: { ...options },
    fieldConfig: fieldConfig(
      a.unit,
      {},
      {
        color: { mode: FieldColorModeId.Thresholds },
        thresholds: a.thresholds ?? NEUTRAL,
        mappings: a.mappings ?? [],
      },
    ),
  });
}

export interface HeatmapArgs extends Common {
  /** Unit of the histogram's buckets (the y axis). */
  readonly unit: Unit;
}

/**
 * A heatmap of pre-bucketed Prometheus histograms: the query must be `sum by (le) (rate(..._bucket))`
 * with format `heatmap`, and Grafana must not re-bucket it (`calculate: false`).
 */
export function heatmap(a: HeatmapArgs): PanelSpec {
  const options: HeatmapOptions = {
    calculate: false,
    yAxis: { axisPlacement: AxisPlacement.Left, unit: a.unit, reverse: false },
    rowsFrame: { layout: HeatmapCellLayout.auto },
    color: {
      mode: HeatmapColorMode.Scheme,
      scheme: 'Oranges',
      fill: 'dark-orange',
      scale: HeatmapColorScale.Exponential,
      exponent: 0.5,
      steps: 64,
      reverse: false,
    },
    cellGap: 1,
    // Hide empty buckets so a quiet host reads as blank rather than a wall of zero-colour cells.
    filterValues: { le: 1e-9 },
    cellValues: { unit: 'cps' },
    legend: { show: true },
    tooltip: { mode: TooltipDisplayMode.Single, yHistogram: true, showColorScale: false },
    exemplars: { color: 'rgba(255,0,255,0.7)' },
    selectionMode: HeatmapSelectionMode.X,
    showValue: VisibilityMode.Auto,
  };
  const custom: HeatmapFieldConfig = { hideFrom: { legend: false, tooltip: false, viz: false } };
  return spec(a, {
    type: 'heatmap',
    options: { ...options },
    fieldConfig: fieldConfig('short', { ...custom }),
  });
}

export interface TableArgs extends Common {
  readonly unit?: Unit;
  /** Columns to drop (Grafana adds Time, and Value is 1 for info metrics). */
  readonly hide?: readonly string[];
  readonly rename?: Readonly<Record<string, string>>;
  /** Data links per column, e.g. a pgmap id opening the drill-down. */
  readonly links?: Readonly<Record<string, { title: string; url: string }>>;
  readonly thresholds?: ThresholdsConfig;
  readonly mappings?: ValueMapping[];
  /** Colour the Value column's cell background by threshold or mapping. */
  readonly colorValue?: boolean;
}

export function table(a: TableArgs): PanelSpec {
  const options: TableOptions = {
    showHeader: true,
    cellHeight: TableCellHeight.Sm,
    frameIndex: 0,
  };
  const custom: TableFieldConfig = {
    align: 'auto',
    cellOptions: { type: TableCellDisplayMode.Auto },
    inspect: false,
  };
  const transformations: DataTransformerConfig[] = [];
  // Several instant queries become one row per label set instead of one table per query.
  if (a.queries.length > 1) transformations.push({ id: 'merge', options: {} });
  transformations.push({
    id: 'organize',
    options: {
      excludeByName: Object.fromEntries(['Time', '__name__', ...(a.hide ?? [])].map((c) => [c, true])),
      renameByName: { ...a.rename },
      indexByName: {},
    },
  });
  const overrides: FieldConfigSource['overrides'] = Object.entries(a.links ?? {}).map(([field, link]) => ({
    matcher: { id: 'byName', options: field },
    properties: [{ id: 'links', value: [link] }],
  }));
  if (a.colorValue) {
    overrides.push({
      matcher: { id: 'byName', options: 'Value' },
      properties: [{ id: 'custom.cellOptions', value: { type: TableCellDisplayMode.ColorBackground } }],
    });
  }
  const fc = fieldConfig(
    a.unit ?? 'short',
    { ...custom },
    {
      color: { mode: FieldColorModeId.Thresholds },
      thresholds: a.thresholds ?? NEUTRAL,
      mappings: a.mappings ?? [],
    },
  );
  return spec(a, {
    type: 'table',
    options: { ...options },
    transformations,
    fieldConfig: { ...fc, overrides },
  });
}

export interface BarGaugeArgs extends Common {
  readonly unit: Unit;
  readonly thresholds?: ThresholdsConfig;
}

export function bargauge(a: BarGaugeArgs): PanelSpec {
  const options: BarGaugeOptions = {
    displayMode: BarGaugeDisplayMode.Gradient,
    orientation: VizOrientation.Horizontal,
    reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
    showUnfilled: true,
    valueMode: BarGaugeValueMode.Color,
    namePlacement: BarGaugeNamePlacement.Auto,
    sizing: BarGaugeSizing.Auto,
    minVizHeight: 16,
    minVizWidth: 8,
    maxVizHeight: 300,
    legend: { showLegend: false, displayMode: LegendDisplayMode.List, placement: 'bottom', calcs: [] },
  };
  return spec(a, {
    type: 'bargauge',
    options: { ...options },
    fieldConfig: fieldConfig(
      a.unit,
      {},
      {
        color: { mode: FieldColorModeId.Thresholds },
        thresholds: a.thresholds ?? NEUTRAL,
        min: 0,
      },
    ),
  });
}

export interface StateTimelineArgs extends Common {
  readonly mappings: ValueMapping[];
}

/** One lane per series, coloured by a 0/1 mapping: which probes, backends or checks were live when. */
export function stateTimeline(a: StateTimelineArgs): PanelSpec {
  const options: StateTimelineOptions = {
    rowHeight: 0.8,
    showValue: VisibilityMode.Never,
    mergeValues: true,
    alignValue: 'left',
    legend: { showLegend: false, displayMode: LegendDisplayMode.List, placement: 'bottom', calcs: [] },
    tooltip: { mode: TooltipDisplayMode.Single, sort: SortOrder.None },
  };
  const custom: StateTimelineFieldConfig = { fillOpacity: 70, lineWidth: 0 };
  return spec(a, {
    type: 'state-timeline',
    options: { ...options },
    fieldConfig: fieldConfig(
      'none',
      { ...custom },
      {
        color: { mode: FieldColorModeId.Thresholds },
        thresholds: NEUTRAL,
        mappings: a.mappings,
      },
    ),
  });
}
