/**
 * One error root: every area's error is a DaxmonError with a catalogued code, an exit status from
 * the catalogue, its cause, and a message that does not repeat the code; a log line about any
 * error carries the code as a field.
 */
import { describe, expect, it, vi } from 'vitest';
import {
  CATALOGUE,
  DaxmonError,
  codeIn,
  codesOf,
  errorLogFields,
  exitCodeOf,
  isCodeOf,
  isDaxmonError,
} from '../../src/errors.js';
import { KERNEL_ERROR_CODES, KernelReadError } from '../../src/kernel/errors.js';
import { BPFTRACE_ERROR_CODES, BpftraceError } from '../../src/probes/bpftrace/errors.js';

describe('DaxmonError', () => {
  it('area errors are DaxmonErrors, named for their area, with the message as given', () => {
    const k = new KernelReadError('DAXMON_E_BTF_INVALID', 'BTF blob is malformed: short header');
    const b = new BpftraceError('DAXMON_E_BPFTRACE_NO_PROBES', 'no probe can attach on this host');
    for (const e of [k, b]) {
      expect(e).toBeInstanceOf(DaxmonError);
      expect(e).toBeInstanceOf(Error);
      expect(isDaxmonError(e)).toBe(true);
      expect(e.message).not.toContain(e.code);
    }
    expect(k.name).toBe('KernelReadError');
    expect(b.name).toBe('BpftraceError');
    expect(new DaxmonError('DAXMON_E_USAGE', 'x').name).toBe('DaxmonError');
    expect(b.message).toBe('no probe can attach on this host');
  });

  it('the exit status is the catalogue’s for the code (2 unless it says otherwise), or the one given', () => {
    expect(new DaxmonError('DAXMON_E_USAGE', 'x').exitCode).toBe(2);
    expect(new DaxmonError('DAXMON_E_VM_BOOT', 'x').exitCode).toBe(1);
    expect(exitCodeOf('DAXMON_E_VM_BOOT')).toBe(CATALOGUE.DAXMON_E_VM_BOOT.exitCode);
    expect(new DaxmonError('DAXMON_E_USAGE', 'x', { exitCode: 3 }).exitCode).toBe(3);
  });

  it('keeps its cause', () => {
    const enoent = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
    const e = new BpftraceError('DAXMON_E_BPFTRACE_SNIPPETS_UNREADABLE', 'cannot read', { cause: enoent });
    expect(e.cause).toBe(enoent);
    expect('cause' in new DaxmonError('DAXMON_E_USAGE', 'x')).toBe(false);
  });

  it('an error from another copy of this module (the VM lab bundled apart) is still recognised', async () => {
    // A second instance of the module, as a separately bundled package would load it.
    vi.resetModules();
    const other = await import('../../src/errors/base.js');
    expect(other.DaxmonError).not.toBe(DaxmonError);
    const e = new other.DaxmonError('DAXMON_E_VM_TOOL_MISSING', 'qemu-system-x86_64 is not installed');
    expect(e instanceof DaxmonError).toBe(false);
    expect(isDaxmonError(e)).toBe(true);
    expect(isDaxmonError(Object.assign(new Error('x'), { code: 'DAXMON_E_USAGE' }))).toBe(false);
    expect(isDaxmonError('DAXMON_E_USAGE')).toBe(false);
  });

  it('an area narrows the codes it may carry', () => {
    expect(KERNEL_ERROR_CODES).toEqual(codesOf('kernel'));
    expect(KERNEL_ERROR_CODES).toContain('DAXMON_E_MODEL_OVERRIDE_INVALID');
    expect(BPFTRACE_ERROR_CODES.every((c) => c.startsWith('DAXMON_E_BPFTRACE_'))).toBe(true);
    // @ts-expect-error a bpftrace code is not a kernel-reading error
    void new KernelReadError('DAXMON_E_BPFTRACE_NO_PROBES', 'x');
    // @ts-expect-error a code that is not in the catalogue does not compile
    void new DaxmonError('DAXMON_E_USGAE', 'x');
  });

  it('a code another program sends is taken only if it is one of the area’s', () => {
    expect(isCodeOf('scan', 'DAXMON_E_SCAN_LOAD')).toBe(true);
    expect(isCodeOf('scan', 'DAXMON_E_USAGE')).toBe(false);
    expect(isCodeOf('scan', 'DAXMON_E_SCAN_SOMETHING_NEW')).toBe(false);
    expect(isCodeOf('scan', undefined)).toBe(false);
  });
});

describe('errorLogFields', () => {
  it('a DaxmonError: its code, its message, and its cause', () => {
    const cause = new KernelReadError('DAXMON_E_BTF_MISSING', 'no /sys/kernel/btf/vmlinux');
    const e = new DaxmonError('DAXMON_E_LIBBPF_NO_BTF', 'the CO-RE probes need kernel BTF', { cause });
    expect(errorLogFields(e)).toEqual({
      code: 'DAXMON_E_LIBBPF_NO_BTF',
      err: 'the CO-RE probes need kernel BTF',
      cause: 'DAXMON_E_BTF_MISSING: no /sys/kernel/btf/vmlinux',
    });
  });

  it('a Node system error: no code of ours, its errno; anything else: its text', () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    expect(errorLogFields(enospc)).toEqual({
      err: 'ENOSPC: no space left on device, write',
      errno: 'ENOSPC',
    });
    expect(errorLogFields(new Error('x', { cause: 'why' }))).toEqual({ err: 'x', cause: 'why' });
    expect(errorLogFields('a string')).toEqual({ err: 'a string' });
  });
});

describe('codeIn', () => {
  it('finds the catalogue code in a reason or a C helper’s line, and nothing else', () => {
    expect(codeIn('DAXMON_E_LIBBPF_NO_BTF: the CO-RE probes need kernel BTF')).toBe('DAXMON_E_LIBBPF_NO_BTF');
    expect(codeIn('daxmon-loader: DAXMON_E_LOADER_LOAD: daxmon.bpf.o: -EACCES')).toBe('DAXMON_E_LOADER_LOAD');
    expect(codeIn('DAXMON_E_NOT_A_CODE then DAXMON_E_SCAN_RUN')).toBe('DAXMON_E_SCAN_RUN');
    expect(codeIn('symbol not in /proc/kallsyms')).toBeUndefined();
  });
});
