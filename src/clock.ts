/**
 * The clock of every event daxmon makes itself (backend starts and stops, probe reports,
 * discovered pgmaps, scan samples, the time-based checks' ticks): CLOCK_MONOTONIC in ns, the
 * clock bpf_ktime_get_ns() reads, so they order correctly among the probes' events.
 * (process.hrtime is uv_hrtime, which is CLOCK_MONOTONIC on Linux.)
 */
export function monotonicNs(): number {
  return Number(process.hrtime.bigint());
}
