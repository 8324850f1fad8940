/**
 * The guest kernel command line. `panic=-1` reboots at once on a panic and qemu's `-no-reboot` turns
 * that into an exit, so a boot that panics (about one in fifteen here, while unpacking the initramfs)
 * ends quickly instead of hanging until the ready timeout.
 */
export interface CmdlineOptions {
  /** e.g. `memmap=1G!5G` for a legacy e820 pmem region. */
  pmem?: readonly string[];
  extra?: readonly string[];
  quiet?: boolean;
}

export function buildCmdline(opts: CmdlineOptions = {}): string {
  const parts = ['console=ttyS0', 'panic=-1', 'rdinit=/init'];
  if (opts.quiet ?? true) parts.push('quiet', 'loglevel=4');
  // tsc=reliable: under software emulation the TSC watchdog otherwise marks the clock unstable and
  // sched_clock falls back mid-boot, which is slow and noisy.
  parts.push('tsc=reliable', 'no_timer_check');
  parts.push(...(opts.pmem ?? []), ...(opts.extra ?? []));
  return parts.join(' ');
}

/** `memmap=SIZE!START`: RAM from START to START+SIZE becomes a legacy pmem region (E820_TYPE_PRAM). */
export function memmapArg(sizeMiB: number, startMiB: number): string {
  const fmt = (mib: number): string => (mib % 1024 === 0 ? `${mib / 1024}G` : `${mib}M`);
  return `memmap=${fmt(sizeMiB)}!${fmt(startMiB)}`;
}
