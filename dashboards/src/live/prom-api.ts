/**
 * The few Prometheus HTTP API calls the live checks and the overview renderer make. Plain fetch: the
 * API is small and a client library would hide the error bodies the tests report.
 */

export interface Sample {
  readonly metric: Readonly<Record<string, string>>;
  /** Instant vector: one [time, value]. */
  readonly value?: readonly [number, string];
  /** Range matrix: [time, value] pairs. */
  readonly values?: readonly (readonly [number, string])[];
}

export interface ApiResult {
  readonly status: 'success' | 'error';
  readonly error?: string;
  readonly errorType?: string;
  readonly data?: {
    readonly resultType: string;
    readonly result: readonly Sample[] | readonly [number, string];
  };
}

export interface PromApi {
  readonly url: string;
  /** An instant query at `time` (Unix seconds; default now). */
  query(expr: string, time?: number): Promise<ApiResult>;
  queryRange(expr: string, start: number, end: number, stepSeconds: number): Promise<ApiResult>;
  get<T>(pathAndQuery: string): Promise<T>;
}

export function promApi(url: string): PromApi {
  const base = url.replace(/\/+$/, '');
  const get = async <T>(pathAndQuery: string): Promise<T> => {
    const r = await fetch(`${base}${pathAndQuery}`, { signal: AbortSignal.timeout(30_000) });
    return (await r.json()) as T;
  };
  const enc = encodeURIComponent;
  return {
    url: base,
    get,
    query: (expr, time) =>
      get<ApiResult>(`/api/v1/query?query=${enc(expr)}${time === undefined ? '' : `&time=${time}`}`),
    queryRange: (expr, start, end, step) =>
      get<ApiResult>(`/api/v1/query_range?query=${enc(expr)}&start=${start}&end=${end}&step=${step}`),
  };
}

/** Series in a vector or matrix result (a scalar or string result counts as one). */
export function seriesOf(r: ApiResult): readonly Sample[] {
  const res = r.data?.result;
  if (!res) return [];
  if (r.data?.resultType === 'scalar' || r.data?.resultType === 'string') {
    const [t, v] = res as readonly [number, string];
    return [{ metric: {}, value: [t, v] }];
  }
  return res as readonly Sample[];
}

/** The last value of a series, as a number (NaN when it has none). */
export function lastValue(s: Sample): number {
  if (s.value) return Number(s.value[1]);
  const v = s.values?.[s.values.length - 1];
  return v ? Number(v[1]) : Number.NaN;
}
