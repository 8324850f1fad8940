/**
 * Guest job of the HMM VM test: the kernel's own HMM test driver (test_hmm.ko, built for the guest
 * kernel in the trixie build root: lab/src/hmm.ts) and its selftest hmm-tests, run three times in one
 * boot: device-private without daxmon, device-private with daxmon (libbpf) attached, and, when a
 * range is reserved with memmap=, device-coherent (test_hmm's spm_addr_dev0/1) with daxmon. Each run's
 * TAP output, exit status, time and dmesg, and daxmon's API answers after each run, land in
 * $DAXMON_RESULTS/hmm/.
 */
import { GUEST_PORT, apiShell } from '../violations/job.js';

export interface HmmJobOptions {
  node: string;
  repoDir: string;
  module: string;
  tests: string;
  /** Physical addresses of the two coherent devices' 256 MiB chunks (in a memmap=$ reservation). */
  coherent?: { dev0: number; dev1: number };
  runTimeoutSeconds: number;
  /**
   * Load test_hmm with the coherent devices from the start, so both hmm-tests runs (without and with
   * daxmon) cover the private and the coherent variants, and no reload is needed (a reload fails
   * once a test left the module in use).
   */
  coherentFromStart?: boolean;
}

/** test_hmm's coherent-mode module parameters (lib/test_hmm.c: spm_addr_dev0/1, DEVMEM_CHUNK_SIZE each). */
export function coherentParams(c: { dev0: number; dev1: number }): string {
  return `spm_addr_dev0=0x${c.dev0.toString(16)} spm_addr_dev1=0x${c.dev1.toString(16)}`;
}

export function renderHmmJob(o: HmmJobOptions): string {
  const base = `http://127.0.0.1:${GUEST_PORT}`;
  const run = (name: string): string => `t0=$(daxmon_now_ms)
timeout -s KILL ${o.runTimeoutSeconds} ${o.tests} > "$H/${name}.tap" 2> "$H/${name}.err"; rc=$?
echo "$rc $(( $(daxmon_now_ms) - t0 ))" > "$H/${name}.rc"
dmesg -c > "$H/${name}.dmesg" 2>&1
echo "DAXMON_HMM_RUN ${name} rc=$rc"`;
  // daxmon's view after a run: wait until its ingested-event count stays the same for two polls
  // (the ring drains asynchronously), then save state, violations and metrics.
  const snapshot = (name: string): string => `prev=''; still=0; end=$(( $(daxmon_now_ms) + 60000 ))
while [ "$(daxmon_now_ms)" -lt "$end" ]; do
  n=$(curl -sf ${base}/metrics | awk '/^daxmon_events_total/ { s += $NF } END { if (NR) printf "%d", s }')
  if [ -n "$n" ] && [ "$n" = "$prev" ]; then still=$((still + 1)); else still=0; fi
  [ "$still" -ge 2 ] && break
  prev=$n; sleep 1
done
api /api/state ${name}-state.json
api '/api/violations?limit=1000' ${name}-violations.json
api /api/checks ${name}-checks.json
api /metrics ${name}-metrics.txt`;
  return `H="$DAXMON_RESULTS/hmm"; mkdir -p "$H"
${apiShell(base, '$H')}
uname -r > "$H/uname.txt"
dmesg -c > "$H/dmesg-setup.txt" 2>&1
/usr/sbin/insmod ${o.module}${o.coherent && o.coherentFromStart ? ` ${coherentParams(o.coherent)}` : ''} > "$H/insmod-private.txt" 2>&1 || daxmon_fail "insmod test_hmm: $(cat "$H/insmod-private.txt")"
ls -l /dev/hmm_dmirror* > "$H/devices-private.txt" 2>&1
grep -i 'hmm\\|device' /proc/iomem > "$H/iomem-private.txt" 2>&1
# -- 1. hmm-tests without daxmon
${run('plain')}
# -- 2. hmm-tests with daxmon (libbpf) attached
t0=$(daxmon_now_ms)
daxmon_bg_start daxmon ${o.node} ${o.repoDir}/dist/cli.js run --backend libbpf --listen 127.0.0.1:${GUEST_PORT} --journal-dir "$H/journal" --fsync never --log-level info
wait_ready 480 || daxmon_fail "daxmon not ready: $(tail -c 800 "$DAXMON_RESULTS/daxmon.out")"
echo "run_ready_ms $(( $(daxmon_now_ms) - t0 ))" >> "$H/times.txt"
api /api/state before-state.json
api /metrics before-metrics.txt
${run('daxmon')}
${snapshot('daxmon')}
${
  o.coherent && !o.coherentFromStart
    ? `# -- 3. device-coherent: test_hmm again, with the memmap=$ range as its two devices' memory
/usr/sbin/rmmod test_hmm > "$H/rmmod.txt" 2>&1
if /usr/sbin/insmod ${o.module} ${coherentParams(o.coherent)} > "$H/insmod-coherent.txt" 2>&1; then
  ls -l /dev/hmm_dmirror* > "$H/devices-coherent.txt" 2>&1
  grep -i 'hmm\\|reserved' /proc/iomem > "$H/iomem-coherent.txt" 2>&1
  ${run('coherent').replace(/\n/g, '\n  ')}
  ${snapshot('coherent').replace(/\n/g, '\n  ')}
else
  echo "insmod failed" > "$H/coherent.rc"
  dmesg -c > "$H/coherent.dmesg" 2>&1
fi`
    : ''
}
daxmon_bg_stop daxmon TERM 30
dmesg > "$H/dmesg-end.txt" 2>&1
echo DAXMON_HMM_JOB_DONE
`;
}
