/**
 * Small PromQL builders. Selectors take a `SeriesName` from the metrics contract, so a misspelt or
 * removed metric is a type error in the dashboard or alert that uses it.
 */
import type { SeriesName } from './metrics-contract.js';

export type MatchOp = '=' | '!=' | '=~' | '!~';
export type Matcher = string | { readonly op: MatchOp; readonly value: string };
export type Matchers = Readonly<Record<string, Matcher>>;

export const re = (value: string): Matcher => ({ op: '=~', value });
export const notRe = (value: string): Matcher => ({ op: '!~', value });
export const ne = (value: string): Matcher => ({ op: '!=', value });

/** A regex matching exactly one of `values` (label values here are plain identifiers). */
export const oneOf = (values: readonly string[]): string => values.join('|');

/** `name{l1="v1", l2=~"v2"}`. JSON string quoting is valid PromQL string quoting for these values. */
export function selector(name: SeriesName, matchers: Matchers = {}): string {
  const parts = Object.entries(matchers).map(([label, m]) =>
    typeof m === 'string' ? `${label}=${JSON.stringify(m)}` : `${label}${m.op}${JSON.stringify(m.value)}`,
  );
  return parts.length === 0 ? name : `${name}{${parts.join(', ')}}`;
}

const grouping = (labels: readonly string[]): string => (labels.length ? ` by (${labels.join(', ')})` : '');

export const sum = (inner: string, by: readonly string[] = []): string => `sum${grouping(by)} (${inner})`;
export const max = (inner: string, by: readonly string[] = []): string => `max${grouping(by)} (${inner})`;
export const count = (inner: string, by: readonly string[] = []): string => `count${grouping(by)} (${inner})`;
export const rate = (sel: string, window: string): string => `rate(${sel}[${window}])`;
export const increase = (sel: string, window: string): string => `increase(${sel}[${window}])`;

/** `histogram_quantile` over the summed bucket rates, keeping `extraBy` labels apart. */
export function quantile(
  q: number,
  bucketSel: string,
  window: string,
  extraBy: readonly string[] = [],
): string {
  return `histogram_quantile(${q}, ${sum(rate(bucketSel, window), ['le', ...extraBy])})`;
}
