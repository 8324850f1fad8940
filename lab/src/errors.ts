/**
 * The VM lab's error catalogue. Codes are stable: scripts and CI logs grep for them. Messages say what
 * to do next, because the person reading them is usually running `npm run test:vm` for the first time.
 */
export const VM_ERROR_CODES = {
  DAXMON_E_VM_TOOL_MISSING: 'a host tool the VM lab needs is not installed',
  DAXMON_E_VM_APT: 'apt could not resolve or download a guest kernel',
  DAXMON_E_VM_KERNEL_SERIES: 'unknown kernel series',
  DAXMON_E_VM_KERNEL_LAYOUT: 'an unpacked kernel package does not have the expected files',
  DAXMON_E_VM_INITRAMFS: 'the initramfs could not be built',
  DAXMON_E_VM_BOOT: 'the guest did not boot',
  DAXMON_E_VM_TIMEOUT: 'the guest ran past its timeout',
  DAXMON_E_VM_GUEST_FAILED: 'the guest job failed',
  DAXMON_E_VM_RESULT: 'the guest result is missing or malformed',
  DAXMON_E_VM_CONFIG: 'invalid VM lab configuration',
  DAXMON_E_VM_BUILD: 'a workload program failed to compile',
} as const;

export type VmErrorCode = keyof typeof VM_ERROR_CODES;

export class VmError extends Error {
  readonly code: VmErrorCode;
  constructor(code: VmErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.name = 'VmError';
    this.code = code;
  }
}
