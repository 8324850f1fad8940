/** Lines the guest prints on its serial console; the host reacts to them as they stream in. */
export const MARKERS = {
  ready: 'DAXMON_READY',
  bootFailed: 'DAXMON_BOOT_FAILED',
  done: 'DAXMON_DONE',
  /** `DAXMON_STAGE NAME UPTIME`: a boot or job stage was reached (init-script.ts, renderJob). */
  stage: 'DAXMON_STAGE',
} as const;

/** Mount tag of the writable results share; the init script finds its job there. */
export const RESULTS_TAG = 'daxres';
export const HOSTROOT_TAG = 'hostroot';
