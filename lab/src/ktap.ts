/**
 * kselftest's TAP output (tools/testing/selftests/kselftest_harness.h, kselftest.h): one
 * `ok N NAME` / `not ok N NAME` line per test, `# SKIP reason` / `# XFAIL` directives, a `1..N`
 * plan and a `# Totals:` line. Each test's own verdict, as the kernel's test suite reports it.
 */
export type KtapStatus = 'pass' | 'fail' | 'skip' | 'xfail';

export interface KtapResult {
  number: number;
  name: string;
  status: KtapStatus;
  /** The directive's text (why it was skipped). */
  reason?: string;
}

export interface KtapReport {
  planned: number | undefined;
  results: KtapResult[];
  /** The harness's own `# Totals:` counts, if it printed them. */
  totals: Record<string, number> | undefined;
  /** Test numbers the plan promised that never reported (a crash mid-suite). */
  missing: number[];
}

const RESULT_RE = /^(not )?ok (\d+)(?: -)? ?(.*?)(?:\s+#\s*(SKIP|TODO|XFAIL)\b:?\s*(.*))?$/i;

export function parseKtap(text: string): KtapReport {
  let planned: number | undefined;
  let totals: Record<string, number> | undefined;
  const results: KtapResult[] = [];
  for (const raw of text.split('\n')) {
    // Only top-level lines: subtests are indented, and the harness's comments start with '#'.
    const line = raw.replace(/\r$/, '');
    const plan = /^1\.\.(\d+)/.exec(line);
    if (plan) {
      planned = Number(plan[1]);
      continue;
    }
    const t = /^# Totals: (.*)$/.exec(line);
    if (t?.[1]) {
      totals = {};
      for (const m of t[1].matchAll(/(\w+):(\d+)/g)) totals[m[1] as string] = Number(m[2]);
      continue;
    }
    const m = RESULT_RE.exec(line);
    if (!m) continue;
    const directive = m[4]?.toUpperCase();
    const failed = m[1] !== undefined;
    const status: KtapStatus =
      directive === 'SKIP' ? 'skip' : directive === 'XFAIL' ? 'xfail' : failed ? 'fail' : 'pass';
    results.push({
      number: Number(m[2]),
      name: (m[3] ?? '').trim(),
      status,
      ...(directive && m[5] ? { reason: m[5].trim() } : {}),
    });
  }
  const seen = new Set(results.map((r) => r.number));
  const missing: number[] = [];
  for (let i = 1; i <= (planned ?? 0); i++) if (!seen.has(i)) missing.push(i);
  return { planned, results, totals, missing };
}

/** Counts per status. */
export function ktapTally(r: KtapReport): Record<KtapStatus, number> {
  const out: Record<KtapStatus, number> = { pass: 0, fail: 0, skip: 0, xfail: 0 };
  for (const x of r.results) out[x.status]++;
  return out;
}
