// SPDX-License-Identifier: GPL-2.0
/*
 * daxmon-bpfcheck: which BPF program types this host lets daxmon load and attach.
 *
 * Symbols and BTF say nothing about policy: the development machines have both, yet refuse
 * kprobes (CONFIG_KPROBES=n) and fentry (EPERM). So each type is tried for real, one program at
 * a time, on a target every kernel has. `--json` prints
 *   {"tracepoint":{"loads":true,"detail":"..."},"raw_tp":{...},"tp_btf":{...},"kprobe":{...},
 *    "fentry":{...}}
 * where "loads" means the program loaded *and* attached, and "detail" names the errno when not.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "bpfcheck.skel.h"

struct check {
	const char *type;
	const char *prog;
	const char *target;
	bool ok;
	char detail[256];
};

static struct check checks[] = {
	{ "tracepoint", "check_tracepoint", "sched:sched_process_exit", false, "" },
	{ "raw_tp", "check_raw_tp", "sched_process_exit", false, "" },
	{ "tp_btf", "check_tp_btf", "sched_process_exit", false, "" },
	{ "kprobe", "check_kprobe", "vfs_read", false, "" },
	{ "fentry", "check_fentry", "vfs_read", false, "" },
};

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

static const char *errno_name(int e)
{
	switch (e) {
	case EPERM:
		return "EPERM";
	case ENOENT:
		return "ENOENT";
	case EINVAL:
		return "EINVAL";
	case EOPNOTSUPP:
		return "EOPNOTSUPP";
	case EACCES:
		return "EACCES";
	case ESRCH:
		return "ESRCH";
	case E2BIG:
		return "E2BIG";
	default:
		return "errno";
	}
}

static void run(struct check *c)
{
	struct bpfcheck *skel = bpfcheck__open();
	struct bpf_program *p;
	struct bpf_link *link;
	int err;

	if (!skel) {
		err = errno;
		snprintf(c->detail, sizeof(c->detail), "open: %s (%s)", strerror(err), errno_name(err));
		return;
	}
	bpf_object__for_each_program(p, skel->obj)
		bpf_program__set_autoload(p, !strcmp(bpf_program__name(p), c->prog));
	err = bpfcheck__load(skel);
	if (err) {
		snprintf(c->detail, sizeof(c->detail), "load refused: %s (%s)", strerror(-err),
			 errno_name(-err));
		goto out;
	}
	p = bpf_object__find_program_by_name(skel->obj, c->prog);
	link = bpf_program__attach(p);
	if (!link) {
		err = errno;
		snprintf(c->detail, sizeof(c->detail), "loaded, attach to %s refused: %s (%s)",
			 c->target, strerror(err), errno_name(err));
		goto out;
	}
	bpf_link__destroy(link);
	c->ok = true;
	snprintf(c->detail, sizeof(c->detail), "loaded and attached to %s", c->target);
out:
	bpfcheck__destroy(skel);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

int main(int argc, char **argv)
{
	bool json = argc > 1 && !strcmp(argv[1], "--json");
	size_t n = sizeof(checks) / sizeof(checks[0]);

	if (argc > 1 && !json) {
		fprintf(stderr, "usage: daxmon-bpfcheck [--json]\n");
		return 2;
	}
	libbpf_set_print(quiet);
	for (size_t i = 0; i < n; i++)
		run(&checks[i]);
	if (json) {
		putchar('{');
		for (size_t i = 0; i < n; i++) {
			printf("%s", i ? "," : "");
			json_str(checks[i].type);
			printf(":{\"loads\":%s,\"detail\":", checks[i].ok ? "true" : "false");
			json_str(checks[i].detail);
			putchar('}');
		}
		printf("}\n");
	} else {
		for (size_t i = 0; i < n; i++)
			printf("%-11s %-4s %s\n", checks[i].type, checks[i].ok ? "yes" : "no",
			       checks[i].detail);
	}
	return 0;
}
