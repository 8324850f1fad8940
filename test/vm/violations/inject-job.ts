/**
 * Guest job of the fault-injection VM test: daxmon (libbpf) runs while daxfi.ko takes or drops a
 * reference on a pmem page behind every probe's back, and viowl makes the kernel act on that page.
 * Each scenario restores the reference before it ends. Results in $DAXMON_RESULTS/fi/.
 */
import { GUEST_PORT, apiShell } from './job.js';

export interface InjectJobOptions {
  node: string;
  repoDir: string;
  viowl: string;
  daxfi: string;
  idleMismatchSeconds: number;
  /** The kernel's refcount model: which injections make sense (idle is 1 before 6.15, 0 after). */
  model: 'old' | 'new';
}

export function renderInjectJob(o: InjectJobOptions): string {
  const base = `http://127.0.0.1:${GUEST_PORT}`;
  const scenario = (
    name: string,
    cmd: string,
    expectKinds: string[],
    after: string,
    [inject, restore] = ['put', 'get'],
  ) => `
# -- ${name}
mkdir -p /tmp/daxmon/${name}
daxmon_bg_start ${name} ${o.viowl} ${cmd} "$DAX_MNT/${name}" /tmp/daxmon/${name}
daxmon_bg_wait_for ${name} 'VIOWL pfn' 60 || daxmon_fail "${name}: no pfn"
pfn=$(sed -n 's/^VIOWL pfn //p' "$DAXMON_RESULTS/${name}.out")
/usr/sbin/insmod ${o.daxfi} pfn=$pfn op=${inject} 2> "$F/${name}-insmod-${inject}.txt"
dmesg | grep daxfi | tail -1 >> "$F/${name}-daxfi.txt"
touch /tmp/daxmon/${name}/go1
daxmon_bg_wait_for ${name} '${after}' 60 || daxmon_fail "${name}: viowl did not go on"
${expectKinds.map((k) => `wait_api '/api/violations?kind=${k}' '"${k}"' 60 ${name}-${k}.json`).join('\n')}
api '/api/violations?limit=100' ${name}-all.json
/usr/sbin/insmod ${o.daxfi} pfn=$pfn op=${restore} 2> "$F/${name}-insmod-${restore}.txt"
dmesg | grep daxfi | tail -1 >> "$F/${name}-daxfi.txt"
touch /tmp/daxmon/${name}/go2
daxmon_bg_wait_for ${name} DAXWL_RESULT 60 || daxmon_fail "${name}: viowl did not finish"
`;
  return `F="$DAXMON_RESULTS/fi"; mkdir -p "$F"
${apiShell(base, '$F')}
t0=$(daxmon_now_ms)
daxmon_bg_start daxmon ${o.node} ${o.repoDir}/dist/cli.js run --backend libbpf --listen 127.0.0.1:${GUEST_PORT} --no-journal --idle-mismatch-seconds ${o.idleMismatchSeconds} --scan-interval-seconds ${o.model === 'new' ? 2 : 300}
wait_ready 300 || daxmon_fail "daxmon not ready"
echo "run_ready_ms $(( $(daxmon_now_ms) - t0 ))" >> "$F/times.txt"
${
  o.model === 'old'
    ? `${scenario('zero-map', 'zero-map', ['map_zero_ref'], 'VIOWL remapped')}
${scenario('pin-put', 'pin-put', ['refcount_underflow', 'idle_refcount_mismatch'], 'VIOWL truncated')}`
    : // New model: the mapping's own reference dropped (1 -> 0) leaves the page at -1 after the
      // unmap; a pipe's reference dropped (2 -> 1) makes the pipe's put free a mapped page; a
      // reference taken on a PMD folio's tail (tails stay at 0) shows in the next struct-page scan. (A map at refcount 0 cannot be injected: the refault's insert refuses a folio at
      // refcount 0, validate_page_before_insert in mm/memory.c, and the process gets SIGBUS.)
      `${scenario('map-put', 'map-put', ['idle_refcount_mismatch', 'refcount_underflow'], 'VIOWL unmapped')}
${scenario('free-mapped', 'free-mapped', ['free_while_mapped'], 'VIOWL drained')}
${scenario('tail-get', 'tail-get', ['compound_pgmap_mismatch'], 'VIOWL tail-held', ['get', 'put'])}`
}
api /api/checks checks.json
daxmon_bg_stop daxmon TERM 20
dmesg > "$F/dmesg.txt" 2>&1
echo DAXMON_INJECT_JOB_DONE
`;
}
