// SPDX-License-Identifier: GPL-2.0
/*
 * One trivial program per BPF program type daxmon may use, on targets every kernel has:
 * sched_process_exit (tracepoint, raw_tp, tp_btf) and vfs_read (kprobe, fentry). Loaded one at a
 * time by daxmon-bpfcheck to learn what this host's kernel and policy allow.
 */
#include "daxmon_kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

__u64 hits = 0;

SEC("tracepoint/sched/sched_process_exit")
int check_tracepoint(void *ctx)
{
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int check_raw_tp(void *ctx)
{
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(check_tp_btf)
{
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

SEC("kprobe/vfs_read")
int BPF_KPROBE(check_kprobe)
{
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

SEC("fentry/vfs_read")
int BPF_PROG(check_fentry)
{
	__sync_fetch_and_add(&hits, 1);
	return 0;
}
