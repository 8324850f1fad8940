/**
 * Shell functions every job script starts with (the guest runs the host's /bin/sh, dash). They give
 * a scenario a way to run a long-lived helper, such as an observer, beside the workload: start it,
 * wait until it says it is ready, and stop it with a kill timeout, because a bpftrace stopped with
 * SIGINT has been seen to hang a guest script until the outer timeout (docs/vm-lab.md "Before the lab").
 */
export const GUEST_LIB = `set -u
mkdir -p /tmp/daxmon
daxmon_fail() { echo "DAXMON_JOB_FAILED $*"; echo "$*" > "$DAXMON_RESULTS/failed"; exit 90; }
daxmon_now_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
# daxmon_bg_start NAME CMD...: output goes to $DAXMON_RESULTS/NAME.out and NAME.err
daxmon_bg_start() {
  _n=$1; shift
  "$@" > "$DAXMON_RESULTS/$_n.out" 2> "$DAXMON_RESULTS/$_n.err" &
  echo $! > /tmp/daxmon/$_n.pid
}
daxmon_bg_pid() { cat /tmp/daxmon/$1.pid; }
# daxmon_bg_wait_for NAME PATTERN TIMEOUT_SECONDS: 0 once PATTERN is in NAME.out, 1 on timeout or death
daxmon_bg_wait_for() {
  _pid=$(daxmon_bg_pid "$1"); _end=$(( $(daxmon_now_ms) + $3 * 1000 ))
  while [ "$(daxmon_now_ms)" -lt "$_end" ]; do
    grep -q -- "$2" "$DAXMON_RESULTS/$1.out" 2>/dev/null && return 0
    kill -0 "$_pid" 2>/dev/null || { grep -q -- "$2" "$DAXMON_RESULTS/$1.out" 2>/dev/null; return $?; }
    sleep 0.2
  done
  return 1
}
# daxmon_bg_stop NAME [SIGNAL] [KILL_AFTER_SECONDS]: signal, then SIGKILL if it has not exited
daxmon_bg_stop() {
  _pid=$(daxmon_bg_pid "$1"); _sig=\${2:-INT}; _end=$(( $(daxmon_now_ms) + \${3:-5} * 1000 ))
  kill -s "$_sig" "$_pid" 2>/dev/null
  while kill -0 "$_pid" 2>/dev/null && [ "$(daxmon_now_ms)" -lt "$_end" ]; do sleep 0.2; done
  if kill -0 "$_pid" 2>/dev/null; then
    echo "daxmon: $1 (pid $_pid) ignored SIG$_sig, killing it"
    kill -KILL "$_pid" 2>/dev/null
    echo killed > "$DAXMON_RESULTS/$1.killed"
  fi
  wait "$_pid" 2>/dev/null
  return 0
}
`;
