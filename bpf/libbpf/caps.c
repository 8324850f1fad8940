// SPDX-License-Identifier: GPL-2.0
/*
 * daxmon-caps: the only door from daxmon's unprivileged Node process to its privileged helpers
 * (docs/privileges.md).
 *
 *   daxmon-caps /DIR/daxmon-loader ARGS...     (DIR: the directory daxmon-caps itself is in)
 *
 * Installed by scripts/install-caps.sh with FILE capabilities in the permitted set only
 * (`setcap cap_bpf,cap_perfmon,cap_syslog,cap_sys_admin,cap_dac_read_search=p`), owned root:daxmon, mode 0750, so
 * only the daxmon user can run it and it starts with those capabilities permitted but none
 * effective. It then:
 *   1. accepts only one of the allow-listed helpers that sit next to it (never a path from
 *      elsewhere, never bpftrace: it runs any script it is given), after checking that the helper
 *      and its directory are owned by root and writable by nobody else (a hard link of
 *      daxmon-caps into a user's own directory must not launch that user's programs);
 *   2. keeps only that helper's capability set (the table below) in permitted, inheritable and
 *      ambient, and drops everything else it was given;
 *   3. sets no_new_privs, replaces the environment by a fixed one, and executes the helper from
 *      the directory it checked (execveat on that directory's descriptor, no symlink).
 * The helper runs as the calling user with exactly its set in CapEff and CapPrm (ambient
 * capabilities of a program without file capabilities). Run as root, daxmon-caps works too, but a
 * root helper keeps root's capabilities: that is the direct-spawn case and needs no launcher.
 *
 * Errors go to stderr as `DAXMON_E_CAPS_REFUSED: why` (exit 126), the code daxmon's logs carry.
 * No libcap: capget/capset and prctl are three system calls.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

#define BIT(c) (1ull << (c))

/*
 * Per helper, the smallest set that works on 6.12 and 7.x (evidence: docs/kernel-model.md §10,
 * measured by test/vm/privilege.vm.test.ts). `mode` non-NULL: the set applies only when the first
 * argument is that option.
 */
struct helper {
	const char *name;
	const char *mode;
	uint64_t caps;
};

static const struct helper helpers[] = {
	/* loads and attaches the probes (CAP_BPF+CAP_PERFMON); reads /proc/kallsyms addresses for
	 * vmemmap_base and stack symbols (CAP_SYSLOG); CAP_SYS_ADMIN: kprobes go through
	 * perf_event_open, which Debian's perf_event_paranoid=3 allows only with it, and fentry on a
	 * module's function needs libbpf to walk the kernel's BTF objects (BPF_BTF_GET_NEXT_ID) */
	{ "daxmon-loader", NULL, BIT(CAP_BPF) | BIT(CAP_PERFMON) | BIT(CAP_SYSLOG) | BIT(CAP_SYS_ADMIN) },
	/* reads the root-only (0400) sysfs `resource` attribute of pmem namespaces and dax devices,
	 * nothing else (scan.c validates the names) */
	{ "daxmon-scan", "--read-resource", BIT(CAP_DAC_READ_SEARCH) },
	/* loads the scan program and runs it with BPF_PROG_TEST_RUN; vmemmap_base from kallsyms */
	{ "daxmon-scan", NULL, BIT(CAP_BPF) | BIT(CAP_PERFMON) | BIT(CAP_SYSLOG) },
	/* loads and attaches one test program per type: with the loader's privileges, or it would
	 * report kprobes refused that the loader can attach */
	{ "daxmon-bpfcheck", NULL, BIT(CAP_BPF) | BIT(CAP_PERFMON) | BIT(CAP_SYS_ADMIN) },
};

static void __attribute__((noreturn, format(printf, 1, 2))) refuse(const char *fmt, ...)
{
	va_list ap;

	fputs("DAXMON_E_CAPS_REFUSED: daxmon-caps: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(126);
}

/* root-owned and writable by no one else: nobody but root chose what is in it */
static void check_owner(const struct stat *st, const char *what)
{
	if (st->st_uid != 0)
		refuse("%s is not owned by root (uid %u)", what, (unsigned)st->st_uid);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		refuse("%s is writable by group or others (mode %04o)", what, (unsigned)(st->st_mode & 07777));
}

static const char *cap_name(int c)
{
	switch (c) {
	case CAP_DAC_READ_SEARCH:
		return "CAP_DAC_READ_SEARCH";
	case CAP_SYSLOG:
		return "CAP_SYSLOG";
	case CAP_SYS_ADMIN:
		return "CAP_SYS_ADMIN";
	case CAP_PERFMON:
		return "CAP_PERFMON";
	case CAP_BPF:
		return "CAP_BPF";
	default:
		return "?";
	}
}

extern char **environ;

int main(int argc, char **argv)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];
	char self[PATH_MAX], dir[PATH_MAX], *slash;
	const struct helper *h = NULL;
	const char *target, *base;
	struct stat st;
	uint64_t permitted;
	ssize_t n;
	int dirfd, fd;

	if (argc < 2 || argv[1][0] != '/')
		refuse("usage: daxmon-caps /ABSOLUTE/PATH/daxmon-HELPER [ARGS...]");
	target = argv[1];

	/* The helpers are the ones next to this very file (a symlink to daxmon-caps resolves here). */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		refuse("cannot read /proc/self/exe: %s", strerror(errno));
	self[n] = '\0';
	strcpy(dir, self);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		refuse("unexpected location %s", self);
	*slash = '\0';

	slash = strrchr(target, '/');
	base = slash + 1;
	{
		char tdir[PATH_MAX], real[PATH_MAX];

		if ((size_t)(slash - target) >= sizeof(tdir))
			refuse("path too long");
		memcpy(tdir, target, (size_t)(slash - target));
		tdir[slash - target] = '\0';
		if (!realpath(tdir[0] ? tdir : "/", real) || strcmp(real, dir))
			refuse("%s is not in %s: only the helpers next to daxmon-caps are launched", target, dir);
	}
	for (size_t i = 0; i < sizeof(helpers) / sizeof(helpers[0]) && !h; i++) {
		if (strcmp(helpers[i].name, base))
			continue;
		if (!helpers[i].mode || (argc > 2 && !strcmp(argv[2], helpers[i].mode)))
			h = &helpers[i];
	}
	if (!h)
		refuse("%s is not an allow-listed helper (daxmon-loader, daxmon-scan, daxmon-bpfcheck)", base);

	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0 || fstat(dirfd, &st))
		refuse("cannot open %s: %s", dir, strerror(errno));
	check_owner(&st, dir);
	fd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st))
		refuse("cannot open %s: %s", target, strerror(errno));
	if (!S_ISREG(st.st_mode))
		refuse("%s is not a regular file", target);
	check_owner(&st, target);

	/* The loader loads whatever object it is given: with CAP_BPF that must be daxmon's own, the
	 * one next to it (the loader takes options first and the object last, no permutation). */
	if (!strcmp(base, "daxmon-loader") && strcmp(argv[argc - 1], "--help")) {
		char obj[PATH_MAX];

		snprintf(obj, sizeof(obj), "%s/daxmon.bpf.o", dir);
		if (argc < 3 || strcmp(argv[argc - 1], obj))
			refuse("daxmon-loader loads only %s (given %s)", obj, argc < 3 ? "none" : argv[argc - 1]);
	}

	if (syscall(SYS_capget, &hdr, data))
		refuse("capget: %s", strerror(errno));
	permitted = (uint64_t)data[0].permitted | (uint64_t)data[1].permitted << 32;
	for (int c = 0; c < 64; c++)
		if ((h->caps & BIT(c)) && !(permitted & BIT(c)))
			refuse("%s needs %s, which daxmon-caps does not hold: install it with "
			       "scripts/install-caps.sh (file capabilities), and do not set NoNewPrivileges "
			       "or drop the capability from the bounding set",
			       base, cap_name(c));

	/* Keep only the helper's set: permitted and inheritable (ambient needs both), none effective. */
	memset(data, 0, sizeof(data));
	data[0].permitted = data[0].inheritable = (uint32_t)h->caps;
	data[1].permitted = data[1].inheritable = (uint32_t)(h->caps >> 32);
	if (syscall(SYS_capset, &hdr, data))
		refuse("capset: %s", strerror(errno));
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0))
		refuse("clearing ambient capabilities: %s", strerror(errno));
	for (int c = 0; c < 64; c++)
		if ((h->caps & BIT(c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0))
			refuse("raising %s to ambient: %s", cap_name(c), strerror(errno));
	/* The helper can gain nothing more by executing something else. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		refuse("no_new_privs: %s", strerror(errno));

	/* A fixed environment: nothing the caller sets reaches a privileged process. */
	{
		static char path_env[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
		static char lc_env[] = "LC_ALL=C";
		char *env[] = { path_env, lc_env, NULL };

		environ = env;
		/* By name in the directory checked above (root-owned, writable by root only, so the
		 * file cannot change in between), not by the descriptor: fexecve would name the
		 * process after the descriptor (/proc/PID/comm "3") on some kernels. */
		syscall(SYS_execveat, dirfd, base, argv + 1, env, AT_SYMLINK_NOFOLLOW);
	}
	refuse("cannot execute %s: %s", target, strerror(errno));
}
