/** The probe backends this daxmon ships, by name. `auto` prefers libbpf where it can run. */
import type { Backend } from './backend.js';
import { bpftraceBackend } from './bpftrace/backend.js';
import { libbpfBackend } from './libbpf/plan.js';

export type BackendChoice = 'auto' | 'libbpf' | 'bpftrace' | 'none';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'libbpf', 'bpftrace', 'none'];

export function availableBackends(): Partial<Record<'libbpf' | 'bpftrace', Backend>> {
  return { libbpf: libbpfBackend, bpftrace: bpftraceBackend };
}
