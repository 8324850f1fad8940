/**
 * The guest job of the violations VM test: daxmon (libbpf or bpftrace backend) runs in the guest while viowl and
 * daxwl put the kernel into operator-caused bad states, and the job saves what daxmon's API and
 * metrics say *while the state lasts* into $DAXMON_RESULTS/vio/. The host side (collect.ts) only reads
 * those files. Order matters: the unbind comes last, because the holder's exit afterwards oopses the
 * kernel (docs/vm-lab.md).
 */

export interface ViolationJobOptions {
  node: string;
  repoDir: string;
  viowl: string;
  daxwl: string;
  /** Busy-wait thresholds given to daxmon (seconds). */
  busyWarnSeconds: number;
  busyStuckSeconds: number;
  /** Also record a short healthy stream for the replay fixtures. */
  recordHealthy: boolean;
  /** daxmon's probe backend in the guest. */
  backend: 'libbpf' | 'bpftrace';
}

export const GUEST_PORT = 9464;

/**
 * Guest shell helpers for reading daxmon's API while a state lasts, each answer saved under `dir` (a
 * shell word such as "$V"): `api PATH FILE`, `wait_ready SECONDS`, `wait_api PATH PATTERN SECONDS FILE`.
 */
export function apiShell(base: string, dir: string): string {
  return `up() { cut -d' ' -f1 /proc/uptime; }
api() { curl -s -m 20 "${base}$1" > "${dir}/$2"; echo "$(up) $2" >> "${dir}/snapshots.txt"; }
# wait_ready SECONDS: /readyz answers 200 (every probe attached, the backend streaming)
wait_ready() {
  _end=$(( $(daxmon_now_ms) + $1 * 1000 ))
  while [ "$(daxmon_now_ms)" -lt "$_end" ]; do
    curl -sf -m 5 "${base}/readyz" > /dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}
# wait_api PATH PATTERN SECONDS FILE: poll PATH until its body matches PATTERN, then save it as FILE
wait_api() {
  _end=$(( $(daxmon_now_ms) + $3 * 1000 ))
  while [ "$(daxmon_now_ms)" -lt "$_end" ]; do
    if curl -s -m 10 "${base}$1" | grep -q -- "$2"; then api "$1" "$4"; return 0; fi
    sleep 0.5
  done
  api "$1" "$4"; return 1
}`;
}

export function renderViolationJob(o: ViolationJobOptions): string {
  const cli = `${o.node} ${o.repoDir}/dist/cli.js`;
  const base = `http://127.0.0.1:${GUEST_PORT}`;
  const run = `${cli} run --backend ${o.backend} --listen 127.0.0.1:${GUEST_PORT} --journal-dir "$V/journal" --busy-wait-warn-seconds ${o.busyWarnSeconds} --busy-wait-stuck-seconds ${o.busyStuckSeconds} --log-level info`;
  return `V="$DAXMON_RESULTS/vio"; mkdir -p "$V"
${apiShell(base, '$V')}
dmesg -c > "$V/dmesg-setup.txt" 2>&1
${
  o.recordHealthy
    ? `# -- 1. a short healthy recording (fixtures for test/replay/vm-recorded.test.ts)
t0=$(daxmon_now_ms)
daxmon_bg_start record ${cli} record --out "$V/healthy.ndjson" --backend ${o.backend} --no-journal --listen 127.0.0.1:${GUEST_PORT}
wait_ready 240 || daxmon_fail "daxmon record not ready"
echo "record_ready_ms $(( $(daxmon_now_ms) - t0 ))" >> "$V/times.txt"
${o.viowl} healthy "$DAX_MNT/healthy" > "$V/healthy.out" 2>&1
sleep 2
daxmon_bg_stop record INT 20
`
    : ''
}
# -- 2. daxmon run
t0=$(daxmon_now_ms)
daxmon_bg_start daxmon1 ${run}
wait_ready 240 || daxmon_fail "daxmon run not ready"
echo "run_ready_ms $(( $(daxmon_now_ms) - t0 ))" >> "$V/times.txt"
api /api/checks checks-start.json

# -- 3. FOLL_LONGTERM pin attempt: io_uring buffer registration of a DAX mapping
${o.viowl} uring-register "$DAX_MNT/uring" > "$V/uring.out" 2>&1
wait_api /metrics 'daxmon_gup_longterm_refused_total [1-9]' 30 metrics-uring.txt
api /api/checks checks-uring.json
api '/api/violations?kind=longterm_pin_on_fsdax' vio-longterm.json

# -- 4. truncate waiting on pages pinned by vmsplice into an undrained pipe (file kept mapped)
rm -f /tmp/daxmon/go
daxmon_bg_start pin ${o.viowl} pin-truncate "$DAX_MNT/pin" /tmp/daxmon/go
daxmon_bg_wait_for pin truncate_started 60 || daxmon_fail "pin-truncate did not start"
wait_api '/api/violations?kind=busy_wait_stuck&severity=warning' '"busy_wait_stuck"' 60 vio-busy-warning.json
api /metrics metrics-busy-warning.txt
wait_api '/api/violations?kind=busy_wait_stuck&severity=error' '"busy_wait_stuck"' 90 vio-busy-error.json
api /metrics metrics-busy-error.txt
api /api/state state-busy.json
touch /tmp/daxmon/go
daxmon_bg_wait_for pin DAXWL_RESULT 120 || daxmon_fail "pin-truncate did not finish after the drain"
wait_api /metrics 'daxmon_busy_waits_open 0' 30 metrics-busy-cleared.txt
wait_api '/api/violations?kind=busy_wait_stuck' '"clearedT":[0-9]' 30 vio-busy-cleared.json

# -- 5. SIGKILL right after the violations, restart on the same journal
kill -KILL "$(daxmon_bg_pid daxmon1)"; wait "$(daxmon_bg_pid daxmon1)" 2>/dev/null
t0=$(daxmon_now_ms)
daxmon_bg_start daxmon2 ${run}
wait_ready 240 || daxmon_fail "daxmon run (restart) not ready"
echo "restart_ready_ms $(( $(daxmon_now_ms) - t0 ))" >> "$V/times.txt"
api '/api/violations?limit=100' vio-restart.json

# -- 6. unbind nd_pmem under a live mapping (256 pages) with 16 pages pinned
dmesg -c > "$V/dmesg-before-unbind.txt" 2>&1
daxmon_bg_start holder ${o.daxwl} 900 unbind "$DAX_MNT/unbind" "$DAX_ND_DRIVER/unbind" "$DAX_ND_DEV" file
daxmon_bg_wait_for holder DAXWL_RESULT 120 || daxmon_fail "the unbind holder did not report"
wait_api '/api/violations?kind=teardown_with_live_folios' '"teardown_with_live_folios"' 60 vio-teardown.json
api /api/pgmaps pgmaps-unbind.json
api /metrics metrics-unbind.txt
daxmon_bg_stop daxmon2 TERM 20
# Only now may the holder exit (its exit oopses the kernel: the struct pages are gone).
kill -KILL "$(daxmon_bg_pid holder)" 2>/dev/null
sleep 5
dmesg -c > "$V/dmesg-holder-exit.txt" 2>&1
echo DAXMON_VIOLATIONS_JOB_DONE
`;
}
