/**
 * Draws a dashboard snapshot as one SVG: daxmon's own rendering of the panels' query results, laid
 * out on the dashboard's 24-column grid. It is not Grafana (Grafana is not in Debian's archive, so
 * nothing here can run it); the caption says so on the image. Pure: snapshot in, SVG text out.
 */
import type { Sample } from './prom-api.js';
import type { DashboardSnapshot, PanelSnapshot } from './snapshot.js';

const WIDTH = 1200;
const COL = WIDTH / 24;
const ROW_H = 26;
const HEADER_H = 28;
const PAD = 4;
const COLORS = ['#73bf69', '#f2cc0c', '#5794f2', '#ff780a', '#b877d9', '#f2495c', '#8ab8ff', '#96d98d'];

export interface RenderOptions {
  /** Second caption line: where the data came from. */
  readonly source: string;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function compact(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e9) return `${(n / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${(n / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${(n / 1e3).toPrecision(3)}k`;
  if (Number.isInteger(n)) return String(n);
  return Number(n.toPrecision(3)).toString();
}

/** A value in the panel's Grafana unit, roughly as Grafana would print it. */
export function formatValue(n: number, unit: string | undefined): string {
  if (!Number.isFinite(n)) return 'n/a';
  switch (unit) {
    case 's':
    case 'dtdurations':
      return a11ySeconds(n);
    case 'bytes':
      return n >= 1 << 30
        ? `${(n / (1 << 30)).toPrecision(3)} GiB`
        : n >= 1 << 20
          ? `${(n / (1 << 20)).toPrecision(3)} MiB`
          : n >= 1024
            ? `${(n / 1024).toPrecision(3)} KiB`
            : `${n} B`;
    case 'percentunit':
      return `${Number((n * 100).toPrecision(3))}%`;
    case 'cps':
      return `${compact(n)}/s`;
    default:
      return compact(n);
  }
}

function a11ySeconds(n: number): string {
  if (n === 0) return '0 s';
  if (n < 1) return `${Number((n * 1000).toPrecision(3))} ms`;
  if (n < 120) return `${Number(n.toPrecision(3))} s`;
  return `${Math.floor(n / 60)} min ${Math.round(n % 60)} s`;
}

/** Grafana's `{{label}}` legend, or the labels that are there. */
export function legendOf(s: Sample, template: string | undefined): string {
  if (template) return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (_m, k: string) => s.metric[k] ?? '');
  const labels = Object.entries(s.metric).filter(
    ([k]) => k !== 'job' && k !== 'instance' && k !== '__name__',
  );
  return labels.length ? labels.map(([k, v]) => `${k}=${v}`).join(',') : 'value';
}

function last(s: Sample): number {
  if (s.value) return Number(s.value[1]);
  const v = s.values?.[s.values.length - 1];
  return v ? Number(v[1]) : Number.NaN;
}

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

interface Drawn {
  label: string;
  series: Sample;
}

function allSeries(p: PanelSnapshot): Drawn[] {
  return p.queries.flatMap((q) => q.series.map((s) => ({ label: legendOf(s, q.legend), series: s })));
}

function noData(b: Box): string {
  return `<text x="${b.x + b.w / 2}" y="${b.y + b.h / 2}" class="nodata" text-anchor="middle">No data</text>`;
}

function statBody(p: PanelSnapshot, b: Box): string {
  const ds = allSeries(p);
  if (ds.length === 0) return noData(b);
  const shown = ds.slice(0, 3);
  const size = Math.min(34, b.h / (shown.length + 0.6), b.w / 6);
  return shown
    .map((d, i) => {
      const y = b.y + (b.h * (i + 0.75)) / shown.length;
      const label = shown.length > 1 ? `<tspan class="small" dx="6">${esc(d.label)}</tspan>` : '';
      return `<text x="${b.x + b.w / 2}" y="${y}" font-size="${size.toFixed(0)}" class="stat" text-anchor="middle">${esc(formatValue(last(d.series), p.unit))}${label}</text>`;
    })
    .join('');
}

function timeseriesBody(p: PanelSnapshot, b: Box, t0: number, t1: number): string {
  const ds = allSeries(p).filter((d) => (d.series.values?.length ?? 0) > 0);
  if (ds.length === 0) return noData(b);
  const legendH = Math.min(3, Math.ceil(ds.length / 3)) * 12;
  const plot: Box = { x: b.x + 44, y: b.y + 4, w: b.w - 50, h: b.h - legendH - 18 };
  let max = 0;
  for (const d of ds) for (const [, v] of d.series.values ?? []) max = Math.max(max, Number(v) || 0);
  if (max === 0) max = 1;
  const px = (t: number): number => plot.x + ((t - t0) / Math.max(1, t1 - t0)) * plot.w;
  const py = (v: number): number => plot.y + plot.h - (v / max) * plot.h;
  const parts: string[] = [
    `<line x1="${plot.x}" y1="${plot.y + plot.h}" x2="${plot.x + plot.w}" y2="${plot.y + plot.h}" class="axis"/>`,
    `<text x="${plot.x - 4}" y="${plot.y + 8}" class="tick" text-anchor="end">${esc(formatValue(max, p.unit))}</text>`,
    `<text x="${plot.x - 4}" y="${plot.y + plot.h}" class="tick" text-anchor="end">0</text>`,
    `<text x="${plot.x}" y="${plot.y + plot.h + 11}" class="tick">${esc(clock(t0))}</text>`,
    `<text x="${plot.x + plot.w}" y="${plot.y + plot.h + 11}" class="tick" text-anchor="end">${esc(clock(t1))}</text>`,
  ];
  ds.forEach((d, i) => {
    const pts = (d.series.values ?? [])
      .map(([t, v]) => `${px(t).toFixed(1)},${py(Number(v) || 0).toFixed(1)}`)
      .join(' ');
    parts.push(
      `<polyline points="${pts}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.5"/>`,
    );
  });
  ds.slice(0, 9).forEach((d, i) => {
    const x = b.x + 6 + (i % 3) * (b.w / 3);
    const y = b.y + b.h - legendH + 10 + Math.floor(i / 3) * 12;
    parts.push(
      `<rect x="${x}" y="${y - 7}" width="8" height="3" fill="${COLORS[i % COLORS.length]}"/><text x="${x + 11}" y="${y}" class="small">${esc(truncate(d.label, 28))}</text>`,
    );
  });
  return parts.join('');
}

function barsBody(p: PanelSnapshot, b: Box): string {
  const ds = allSeries(p);
  if (ds.length === 0) return noData(b);
  const rows = ds.slice(0, Math.max(1, Math.floor(b.h / 14)));
  const max = Math.max(1, ...rows.map((d) => last(d.series) || 0));
  const h = Math.min(16, b.h / rows.length);
  return rows
    .map((d, i) => {
      const y = b.y + i * h;
      const v = last(d.series) || 0;
      const bw = ((b.w - 190) * v) / max;
      return `<text x="${b.x + 4}" y="${y + h * 0.75}" class="small">${esc(truncate(d.label, 26))}</text><rect x="${b.x + 140}" y="${y + 2}" width="${Math.max(1, bw).toFixed(1)}" height="${h - 4}" fill="${COLORS[i % COLORS.length]}"/><text x="${b.x + 144 + bw}" y="${y + h * 0.75}" class="small">${esc(formatValue(v, p.unit))}</text>`;
    })
    .join('');
}

function tableBody(p: PanelSnapshot, b: Box): string {
  const ds = p.queries.flatMap((q) => q.series);
  if (ds.length === 0) return noData(b);
  const cols = [
    ...new Set(ds.flatMap((s) => Object.keys(s.metric).filter((k) => k !== 'job' && k !== '__name__'))),
  ];
  const cw = b.w / (cols.length + 1);
  const header = [...cols, 'value']
    .map((c, i) => `<text x="${b.x + 4 + i * cw}" y="${b.y + 10}" class="th">${esc(c)}</text>`)
    .join('');
  const body = ds
    .slice(0, Math.floor((b.h - 14) / 13))
    .map((s, r) =>
      [...cols.map((c) => s.metric[c] ?? ''), formatValue(last(s), p.unit)]
        .map(
          (v, i) =>
            `<text x="${b.x + 4 + i * cw}" y="${b.y + 24 + r * 13}" class="small">${esc(truncate(v, Math.floor(cw / 6)))}</text>`,
        )
        .join(''),
    )
    .join('');
  return header + body;
}

/** Buckets as rows (low at the bottom), time as columns, shade by the per-second rate. */
function heatmapBody(p: PanelSnapshot, b: Box, t0: number, t1: number): string {
  const ds = p.queries
    .flatMap((q) => q.series)
    .filter((s) => (s.values?.length ?? 0) > 0)
    .sort((a, c) => bound(a) - bound(c));
  if (ds.length === 0) return noData(b);
  // Buckets are cumulative (each counts every wait up to its bound); a heatmap cell shows the waits
  // in its own bucket only, as Grafana's heatmap does with `format: heatmap`.
  const own = ds.map((s, i) => {
    const below = new Map((ds[i - 1]?.values ?? []).map(([t, v]) => [t, Number(v) || 0]));
    return (s.values ?? []).map(
      ([t, v]) => [t, Math.max(0, (Number(v) || 0) - (below.get(t) ?? 0))] as const,
    );
  });
  let max = 0;
  for (const vs of own) for (const [, v] of vs) max = Math.max(max, v);
  const plot: Box = { x: b.x + 44, y: b.y + 2, w: b.w - 50, h: b.h - 16 };
  const rh = plot.h / ds.length;
  const step = ds[0]?.values && ds[0].values.length > 1 ? ds[0].values[1]![0] - ds[0].values[0]![0] : 2;
  const cw = Math.max(1, (plot.w * step) / Math.max(1, t1 - t0));
  const cells: string[] = [];
  ds.forEach((s, i) => {
    const y = plot.y + plot.h - (i + 1) * rh;
    if (i % Math.ceil(ds.length / 6) === 0)
      cells.push(
        `<text x="${plot.x - 4}" y="${y + rh}" class="tick" text-anchor="end">${esc(s.metric.le ?? '')}</text>`,
      );
    for (const [t, n] of own[i] ?? []) {
      if (n <= 0 || max === 0) continue;
      const x = plot.x + ((t - t0) / Math.max(1, t1 - t0)) * plot.w;
      cells.push(
        `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${cw.toFixed(1)}" height="${rh.toFixed(1)}" fill="#ff780a" fill-opacity="${(0.25 + (0.75 * n) / max).toFixed(2)}"/>`,
      );
    }
  });
  cells.push(`<text x="${plot.x}" y="${plot.y + plot.h + 11}" class="tick">${esc(clock(t0))}</text>`);
  cells.push(
    `<text x="${plot.x + plot.w}" y="${plot.y + plot.h + 11}" class="tick" text-anchor="end">${esc(clock(t1))}</text>`,
  );
  return cells.join('');
}

/** A bucket's upper bound; `+Inf` is not a number to Number(). */
function bound(s: Sample): number {
  const le = s.metric.le ?? '+Inf';
  return le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
}

function clock(t: number): string {
  return new Date(t * 1000).toISOString().slice(11, 19);
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, Math.max(1, n - 1))}…` : s;
}

function panelBody(p: PanelSnapshot, b: Box, t0: number, t1: number): string {
  if (p.queries.some((q) => q.error)) return noData(b);
  switch (p.type) {
    case 'stat':
      return statBody(p, b);
    case 'timeseries':
      return timeseriesBody(p, b, t0, t1);
    case 'bargauge':
      return barsBody(p, b);
    case 'table':
      return tableBody(p, b);
    case 'heatmap':
      return heatmapBody(p, b, t0, t1);
    default:
      return `<text x="${b.x + 4}" y="${b.y + 14}" class="small">(${esc(p.type)} not drawn)</text>`;
  }
}

/** Grafana-like auto layout: panels fill rows of 24 columns, left to right. */
function layout(panels: readonly PanelSnapshot[]): { p: PanelSnapshot; x: number; y: number }[] {
  const out: { p: PanelSnapshot; x: number; y: number }[] = [];
  let y = 0;
  let row = '';
  let x = 0;
  let rowH = 0;
  for (const p of panels) {
    if (p.row !== row) {
      y += rowH;
      row = p.row;
      x = 0;
      rowH = 0;
      out.push({ p: { ...p, type: '__row__', title: p.row }, x: 0, y });
      y += 1;
    }
    if (x + p.w > 24) {
      y += rowH;
      x = 0;
      rowH = 0;
    }
    out.push({ p, x, y });
    x += p.w;
    rowH = Math.max(rowH, p.h);
  }
  return out;
}

export function renderDashboardSvg(s: DashboardSnapshot, o: RenderOptions): string {
  const placed = layout(s.panels);
  const bottom = Math.max(...placed.map(({ p, y }) => y + (p.type === '__row__' ? 1 : p.h)));
  const height = HEADER_H * 2 + bottom * ROW_H + PAD * 2;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    '<style>.title{font-size:11px;fill:#d8d9da;font-weight:bold}.small{font-size:9px;fill:#c7d0d9}.tick{font-size:8px;fill:#8e8e8e}.th{font-size:9px;fill:#6e9fff;font-weight:bold}.stat{fill:#73bf69;font-weight:bold}.nodata{font-size:11px;fill:#8e8e8e}.axis{stroke:#444}.row{font-size:13px;fill:#d8d9da;font-weight:bold}.cap{font-size:13px;fill:#f2cc0c}.src{font-size:10px;fill:#c7d0d9}</style>',
    `<rect width="100%" height="100%" fill="#111217"/>`,
    `<text x="${PAD}" y="18" class="cap">${esc(`${s.title}: daxmon's own rendering of the overview panels' queries, not Grafana`)}</text>`,
    `<text x="${PAD}" y="36" class="src">${esc(o.source)}</text>`,
  ];
  const top = HEADER_H * 2 - 8;
  for (const { p, x, y } of placed) {
    const px = x * COL + PAD;
    const py = top + y * ROW_H;
    if (p.type === '__row__') {
      out.push(`<text x="${px}" y="${py + 18}" class="row">${esc(p.title)}</text>`);
      continue;
    }
    const box: Box = { x: px, y: py, w: p.w * COL - PAD, h: p.h * ROW_H - PAD };
    out.push(
      `<rect x="${box.x}" y="${box.y}" width="${box.w}" height="${box.h}" rx="3" fill="#181b1f" stroke="#2c3235"/>`,
      `<text x="${box.x + 6}" y="${box.y + 15}" class="title">${esc(truncate(p.title, Math.floor(box.w / 6)))}</text>`,
      panelBody(
        p,
        { x: box.x + 4, y: box.y + 22, w: box.w - 8, h: box.h - 26 },
        s.window.start,
        s.window.end,
      ),
    );
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
