import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describeError } from '../../src/errors.js';
import { NdjsonDecoder, type StreamHeader } from '../../src/events/ndjson.js';
import type { DaxEvent, RefcountModel } from '../../src/events/types.js';
import type { Violation } from '../../src/violations/violation.js';
import type { PhaseMark, RefcountOutcome } from './daxmon-counts.js';
import {
  DAXMON_NOT_OBSERVED,
  countByPhase,
  eventsByScenario,
  parsePhaseLog,
  refcountOutcome,
  scenarioAt,
  unavailableCounters,
} from './daxmon-counts.js';
import type { Observer, ObserverOutput } from './observer.js';

export type DaxmonBackend = 'libbpf' | 'bpftrace';

export interface DaxmonObserverOptions {
  repoDir: string;
  backend: DaxmonBackend;
  /** Seconds to wait for /readyz (bpftrace attaches in 45-111 s under emulation). */
  readyTimeoutSeconds?: number;
  /** Scenario (phase base) → whether its GUP gets are released unseen on this kernel. */
  unseenGetRelease?: (base: number) => boolean;
}

/** The live daemon's view at the end of the run, from its own API. */
export interface LiveState {
  state: {
    events: { total: number; byType: Record<string, number>; lost: Record<string, number> };
    probes: { backend: string; probe: string; attached: boolean; detail: string }[];
    pgmaps: { type: string; device: string | null; phase: string; pages: number }[];
    folios: { tracked: number };
  };
  violations: { items: Violation[]; total: number };
}

/** `daxmon replay --json` of the recorded stream, run on the host (the parts compared). */
export interface ReplaySummaryJson {
  events: { total: number; byType: Record<string, number> };
  pgmaps: { type: string; device: string | null; phase: string; pages: number }[];
  folios: { tracked: number; byState: Record<string, number> };
  violations: { total: number; byKind: Record<string, number>; items: Violation[] };
  inputErrors: { count: number };
}

/** Everything the matrix asserts about daxmon beyond the counts. */
export interface DaxmonFindings {
  backend: DaxmonBackend;
  model: RefcountModel | undefined;
  readyMs: number | undefined;
  events: number;
  lost: number;
  /** Logical probes: attached → hook, or the reason it is not. */
  probes: { probe: string; attached: boolean; detail: string }[];
  /** Violations by the scenario (phase base) they were raised in; 0 = before the first scenario. */
  violationsByScenario: Map<number, Violation[]>;
  refcounts: Map<number, RefcountOutcome>;
  live: LiveState | undefined;
  replay: ReplaySummaryJson | undefined;
  /** Differences between the live daemon's final state and the replay of its recording. */
  replayDiffs: string[];
}

export interface DaxmonObserverOutput extends ObserverOutput {
  daxmon: DaxmonFindings;
}

const PORT = 9477;
const EVENTS = 'daxmon-events.ndjson';
const PHASES = 'phases.log';
/** The recording cut where the live state was saved: what the replay must match. */
const EVENTS_AT_STATE = 'daxmon-events-at-state.ndjson';

/**
 * daxmon as the matrix's observer: `daxmon record` runs in the guest for the whole boot, the
 * workload logs its step boundaries with CLOCK_MONOTONIC times, and the counts per step are
 * daxmon's recorded events attributed to those steps. Before it stops, the live daemon's state and
 * violations are saved from its API, so the host can check that replaying the recording gives the
 * same picture.
 */
export function daxmonObserver(opts: DaxmonObserverOptions): Observer & {
  collect(resultsDir: string): Promise<DaxmonObserverOutput>;
} {
  const cli = join(opts.repoDir, 'dist', 'cli.js');
  const url = `http://127.0.0.1:${PORT}`;
  return {
    name: `daxmon-${opts.backend}`,
    startShell: () => `export DAXWL_PHASE_LOG="$DAXMON_RESULTS/${PHASES}"
: > "$DAXWL_PHASE_LOG"
t_obs=$(daxmon_now_ms)
daxmon_bg_start daxmon ${process.execPath} ${cli} record --out /tmp/daxmon/${EVENTS} --backend ${opts.backend} \\
  --listen 127.0.0.1:${PORT} --journal-dir "$DAXMON_RESULTS/journal" --fsync never --log-level info
obs_ready=0
obs_end=$(( $(daxmon_now_ms) + ${opts.readyTimeoutSeconds ?? 480} * 1000 ))
while [ "$(daxmon_now_ms)" -lt "$obs_end" ]; do
  if curl -sf -o /dev/null ${url}/readyz; then obs_ready=1; break; fi
  kill -0 "$(daxmon_bg_pid daxmon)" 2>/dev/null || break
  sleep 0.5
done
[ "$obs_ready" = 1 ] || daxmon_fail "daxmon did not become ready: $(curl -s ${url}/readyz) $(tail -c 800 "$DAXMON_RESULTS/daxmon.out")"
echo "$(( $(daxmon_now_ms) - t_obs ))" > "$DAXMON_RESULTS/daxmon-ready-ms"
echo "observer daxmon-${opts.backend} ready in $(cat "$DAXMON_RESULTS/daxmon-ready-ms") ms"
curl -s ${url}/metrics | grep '^daxmon_probe_attached' > "$DAXMON_RESULTS/daxmon-ready-probes.txt"
`,
    // The recording is written to the guest's tmpfs and copied at the end: 9p writes are slow, and
    // a burst of ~100k events must not wait for them.
    // Let the backends deliver the last scenario's events (the ring is drained asynchronously, and
    // on a busy host later than any fixed pause): wait until daxmon's ingested-event count has stayed
    // the same for two seconds (at most 60 s), then save the live view and stop daxmon the way an
    // operator would.
    stopShell: () => `sleep 1
obs_prev=''; obs_still=0; obs_end=$(( $(daxmon_now_ms) + 60000 ))
while [ "$(daxmon_now_ms)" -lt "$obs_end" ]; do
  obs_n=$(curl -sf ${url}/metrics | awk '/^daxmon_events_total/ { s += $NF } END { if (NR) printf "%d", s }')
  if [ -n "$obs_n" ] && [ "$obs_n" = "$obs_prev" ]; then obs_still=$((obs_still + 1)); else obs_still=0; fi
  [ "$obs_still" -ge 2 ] && break
  obs_prev=$obs_n
  sleep 1
done
curl -s ${url}/api/state > "$DAXMON_RESULTS/daxmon-state.json"
curl -s "${url}/api/violations?limit=1000" > "$DAXMON_RESULTS/daxmon-violations.json"
curl -s ${url}/metrics > "$DAXMON_RESULTS/daxmon-metrics.txt"
daxmon_bg_stop daxmon TERM 30
cp /tmp/daxmon/${EVENTS} "$DAXMON_RESULTS/${EVENTS}"
`,
    collect: (resultsDir) => collectDaxmon(resultsDir, opts, cli),
  };
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/**
 * The recording up to and including its `events`-th event (header, blank and bad lines kept as
 * they are), or undefined when it holds fewer. The live state is saved while daxmon runs; the
 * stop records more (the loader's final program statistics, each backend's backend_stopped, a
 * periodic statistics frame that landed between the save and the stop), so the replay that must
 * equal the live state is the replay of what the live state had counted.
 */
export function recordingPrefix(text: string, events: number): string | undefined {
  if (events === 0) {
    const nl = text.indexOf('\n');
    return nl < 0 ? text : text.slice(0, nl + 1);
  }
  let seen = 0;
  let lastLine = 0;
  const d = new NdjsonDecoder({
    header: () => {},
    event: (_e, line) => {
      if (++seen === events) {
        lastLine = line;
        d.stop();
      }
    },
    error: () => {},
  });
  d.push(text);
  d.end();
  if (seen < events) return undefined;
  let at = 0;
  for (let i = 0; i < lastLine; i++) {
    const nl = text.indexOf('\n', at);
    if (nl < 0) return text;
    at = nl + 1;
  }
  return text.slice(0, at);
}

/** Decodes a recording with daxmon's own decoder: the header, the events and bad-line count. */
export function decodeRecording(text: string): {
  header: StreamHeader | undefined;
  events: DaxEvent[];
  errors: string[];
} {
  let header: StreamHeader | undefined;
  const events: DaxEvent[] = [];
  const errors: string[] = [];
  const d = new NdjsonDecoder({
    header: (h) => (header = h),
    event: (e) => events.push(e),
    error: (m, line) => errors.push(`line ${line}: ${m}`),
  });
  d.push(text);
  d.end();
  return { header, events, errors };
}

/** Live final state vs the replay of the recording: what must be identical. */
export function compareLiveToReplay(live: LiveState, r: ReplaySummaryJson): string[] {
  const diffs: string[] = [];
  const pg = (x: { type: string; device: string | null; phase: string; pages: number }[]) =>
    x.map((p) => `${p.type}/${p.device ?? '-'}/${p.pages}/${p.phase}`).sort();
  if (JSON.stringify(pg(live.state.pgmaps)) !== JSON.stringify(pg(r.pgmaps)))
    diffs.push(`pgmaps: live ${pg(live.state.pgmaps).join(',')} vs replay ${pg(r.pgmaps).join(',')}`);
  if (live.state.folios.tracked !== r.folios.tracked)
    diffs.push(`folios tracked: live ${live.state.folios.tracked} vs replay ${r.folios.tracked}`);
  // The replay is of the recording's prefix the live state had seen (recordingPrefix): what daxmon
  // recorded after the state was saved (the loader's last program statistics, backend_stopped)
  // is not in it. The prefix is cut at the live total, so the total only checks that the replay
  // decoded every line of it; the counts by type, the pgmaps, folios and violations are the test.
  if (live.state.events.total !== r.events.total)
    diffs.push(`events: live ${live.state.events.total} vs replay ${r.events.total}`);
  const types = new Set([...Object.keys(live.state.events.byType), ...Object.keys(r.events.byType)]);
  for (const type of types) {
    const [a, b] = [live.state.events.byType[type] ?? 0, r.events.byType[type] ?? 0];
    if (a !== b) diffs.push(`${type} events: live ${a} vs replay ${b}`);
  }
  const kinds = (vs: Violation[]) => vs.map((v) => `${v.kind}@${v.pfn ?? '-'}`).sort();
  if (JSON.stringify(kinds(live.violations.items)) !== JSON.stringify(kinds(r.violations.items)))
    diffs.push(
      `violations: live [${kinds(live.violations.items).join(', ')}] vs replay [${kinds(r.violations.items).join(', ')}]`,
    );
  if (r.inputErrors.count > 0) diffs.push(`replay: ${r.inputErrors.count} bad lines in the recording`);
  return diffs;
}

async function runReplay(cli: string, file: string): Promise<ReplaySummaryJson> {
  const { stdout } = await promisify(execFile)(process.execPath, [cli, 'replay', '--json', file], {
    maxBuffer: 512 * 1024 * 1024,
  });
  return JSON.parse(stdout) as ReplaySummaryJson;
}

async function collectDaxmon(
  resultsDir: string,
  opts: DaxmonObserverOptions,
  cli: string,
): Promise<DaxmonObserverOutput> {
  const notes: string[] = [];
  const text = await readFile(join(resultsDir, EVENTS), 'utf8').catch(() => '');
  const marks: PhaseMark[] = parsePhaseLog(await readFile(join(resultsDir, PHASES), 'utf8').catch(() => ''));
  const { header, events, errors } = decodeRecording(text);
  if (!header) notes.push('daxmon wrote no recording (no header)');
  if (errors.length) notes.push(`recording: ${errors.length} bad lines, first: ${errors[0]}`);
  if (marks.length === 0) notes.push('the workload logged no phase marks');
  const model = header?.kernel.model;
  const counts = countByPhase(events, marks, model ?? 'new');

  // Probe attach status as daxmon reported it: the last probe_status of each logical probe.
  const probeStatus = new Map<string, { probe: string; attached: boolean; detail: string }>();
  let lost = 0;
  for (const e of events) {
    if (e.type === 'probe_status' && e.backend === opts.backend)
      probeStatus.set(e.probe, { probe: e.probe, attached: e.attached, detail: e.detail });
    if (e.type === 'events_lost') lost += e.count;
    if (e.type === 'backend_stopped' && !/shutdown|SIGTERM|stop/i.test(e.reason))
      notes.push(`backend ${e.backend} stopped: ${e.reason}`);
  }

  const violationsByScenario = new Map<number, Violation[]>();
  const live: LiveState | undefined = await (async () => {
    const state = await readJson<LiveState['state']>(join(resultsDir, 'daxmon-state.json'));
    const violations = await readJson<LiveState['violations']>(join(resultsDir, 'daxmon-violations.json'));
    return state && violations ? { state, violations } : undefined;
  })();
  if (!live) notes.push('the live daemon state was not saved (daxmon-state.json)');
  for (const v of live?.violations.items ?? []) {
    const base = scenarioAt(marks, v.t);
    violationsByScenario.set(base, [...(violationsByScenario.get(base) ?? []), v]);
  }

  const refcounts = new Map<number, RefcountOutcome>();
  if (model) {
    for (const [base, list] of eventsByScenario(events, marks)) {
      const unseen = opts.unseenGetRelease?.(base) ?? false;
      if (base > 0) refcounts.set(base, refcountOutcome(list, model, unseen));
    }
  }

  let replay: ReplaySummaryJson | undefined;
  let replayDiffs: string[] = [];
  if (header) {
    try {
      const prefix = live ? recordingPrefix(text, live.state.events.total) : undefined;
      if (!live) replayDiffs = ['no live state to compare with'];
      else if (prefix === undefined)
        replayDiffs = [
          `the recording holds ${events.length} events, fewer than the ${live.state.events.total} the live state counted`,
        ];
      else {
        const atState = join(resultsDir, EVENTS_AT_STATE);
        await writeFile(atState, prefix);
        replay = await runReplay(cli, atState);
        replayDiffs = compareLiveToReplay(live, replay);
      }
    } catch (err) {
      replayDiffs = [`daxmon replay failed: ${describeError(err).slice(0, 400)}`];
    }
  }

  const readyMs = Number.parseInt(
    await readFile(join(resultsDir, 'daxmon-ready-ms'), 'utf8').catch(() => ''),
    10,
  );
  const attached: Record<string, string> = {};
  for (const p of probeStatus.values()) if (p.attached) attached[p.probe] = p.detail;
  const err = await readFile(join(resultsDir, 'daxmon.err'), 'utf8').catch(() => '');
  // daxmon logs JSON lines to stderr; only errors (pino level 50, fatal 60) are worth a note, and
  // not the violations themselves (logged as errors too), which the verdict judges per scenario.
  const logged = err.split('\n').filter((l) => /"level":(50|60)/.test(l) && !/"violation":"v\d+"/.test(l));
  if (logged.length) notes.push(`daxmon logged ${logged.length} error(s): ${logged[0]!.slice(0, 400)}`);
  return {
    counts,
    attached,
    unavailable: unavailableCounters([...probeStatus.values()]),
    notObserved: { ...DAXMON_NOT_OBSERVED },
    notes,
    daxmon: {
      backend: opts.backend,
      model,
      readyMs: Number.isFinite(readyMs) ? readyMs : undefined,
      events: events.length,
      lost,
      probes: [...probeStatus.values()],
      violationsByScenario,
      refcounts,
      live,
      replay,
      replayDiffs,
    },
  };
}
