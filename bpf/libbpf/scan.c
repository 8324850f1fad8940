// SPDX-License-Identifier: GPL-2.0
/*
 * daxmon-scan: the privileged half of daxmon's struct-page scanner (docs/scan.md).
 *
 * Loads daxmon_scan.bpf.o once, then serves scan requests read from stdin, one per line:
 *   scan START_PFN NR_PAGES PAGES_PER_SECOND
 * For each request it runs the scan program with BPF_PROG_TEST_RUN over batches of
 * DAXMON_SCAN_BATCH pages and writes one DAXMON_FRAME_SCAN_PAGES frame per batch, sleeping
 * between batches so the request never reads faster than PAGES_PER_SECOND (0 = unbounded), then
 * a {"kind":"done",...} JSON frame. stdout closed or stdin at EOF: exit 0.
 *
 * Frames: struct daxmon_frame_hdr (daxmon_record.h). First frame: {"kind":"hello",...}.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "daxmon_record.h"
#include "daxmon_scan.h"
#include "scan.skel.h"

static bool verbose;

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!verbose && level != LIBBPF_WARN)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void write_all(const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(1, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			exit(0); /* EPIPE: daxmon went away */
		}
		p += n;
		len -= (size_t)n;
	}
}

static void frame(uint16_t kind, const void *a, size_t alen, const void *b, size_t blen)
{
	struct daxmon_frame_hdr h = { .len = (uint32_t)(alen + blen), .kind = kind,
				      .version = DAXMON_WIRE_VERSION };
	char stackbuf[65536];

	/* one write per frame keeps frames whole even if someone else shares the pipe */
	if (sizeof(h) + alen + blen <= sizeof(stackbuf)) {
		memcpy(stackbuf, &h, sizeof(h));
		memcpy(stackbuf + sizeof(h), a, alen);
		if (blen)
			memcpy(stackbuf + sizeof(h) + alen, b, blen);
		write_all(stackbuf, sizeof(h) + alen + blen);
		return;
	}
	write_all(&h, sizeof(h));
	write_all(a, alen);
	if (blen)
		write_all(b, blen);
}

static void json(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	frame(DAXMON_FRAME_JSON, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1, NULL, 0);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t kallsyms_addr(const char *want)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	char line[512];
	uint64_t found = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char type, name[256];
		unsigned long long addr;

		if (sscanf(line, "%llx %c %255s", &addr, &type, name) == 3 && !strcmp(name, want)) {
			found = addr;
			break;
		}
	}
	fclose(f);
	return found;
}

static void usage(FILE *o)
{
	fprintf(o, "usage: daxmon-scan [--vmemmap-base HEX] [--verbose] OBJECT\n"
		   "  reads 'scan START_PFN NR PAGES_PER_SECOND' lines on stdin (docs/scan.md)\n"
		   "       daxmon-scan --read-resource DEVICE...\n"
		   "  prints 'DEVICE VALUE' (or 'DEVICE - ERRNO') for namespaceN.M and daxN.M\n");
}

/*
 * The physical start of a pmem namespace or dax device: sysfs `resource`, mode 0400 (root only),
 * for pgmap discovery when daxmon itself is not root (docs/privileges.md). Run through daxmon-caps
 * with CAP_DAC_READ_SEARCH alone, so it accepts device names only, never paths: what it can read
 * is exactly /sys/bus/{nd,dax}/devices/<device>/resource.
 */
static bool device_name_ok(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *p = name + n;
	int dots = 0;

	if (strncmp(name, prefix, n) || !*p || strlen(name) > 64)
		return false;
	for (; *p; p++) {
		if (*p == '.' && p[1] && p[-1] != '.' && p != name + n)
			dots++;
		else if (*p < '0' || *p > '9')
			return false;
	}
	return dots == 1;
}

static int read_resources(int argc, char **argv)
{
	int rc = 0;

	for (int i = 0; i < argc; i++) {
		const char *name = argv[i];
		const char *bus = device_name_ok(name, "namespace") ? "nd" : device_name_ok(name, "dax") ? "dax" : NULL;
		char path[128], value[64];
		FILE *f;

		if (!bus) {
			printf("%s - EINVAL\n", name);
			rc = 1;
			continue;
		}
		snprintf(path, sizeof(path), "/sys/bus/%s/devices/%s/resource", bus, name);
		f = fopen(path, "r");
		if (!f || !fgets(value, sizeof(value), f)) {
			printf("%s - %s\n", name, errno == ENOENT ? "ENOENT" : errno == EACCES ? "EACCES" : "EIO");
			rc = 1;
		} else {
			value[strcspn(value, "\n")] = '\0';
			printf("%s %s\n", name, value);
		}
		if (f)
			fclose(f);
	}
	return rc;
}

int main(int argc, char **argv)
{
	uint64_t vmemmap_value = 0, vmemmap_addr;
	const char *object = NULL;
	struct scan *skel;
	char line[256];
	int err, prog_fd;

	if (argc > 1 && !strcmp(argv[1], "--read-resource"))
		return read_resources(argc - 2, argv + 2);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--verbose")) {
			verbose = true;
		} else if (!strcmp(argv[i], "--vmemmap-base") && i + 1 < argc) {
			vmemmap_value = strtoull(argv[++i], NULL, 16);
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] == '-' || object) {
			usage(stderr);
			return 2;
		} else {
			object = argv[i];
		}
	}
	(void)object; /* the object is embedded in the skeleton; the argument names the build it came from */
	libbpf_set_print(print_fn);

	vmemmap_addr = vmemmap_value ? 0 : kallsyms_addr("vmemmap_base");
	skel = scan__open();
	if (!skel) {
		json("{\"kind\":\"error\",\"code\":\"DAXMON_E_SCAN_OBJECT\",\"message\":\"open: %s\"}",
		     strerror(errno));
		return 1;
	}
	skel->rodata->vmemmap_base_addr = vmemmap_addr;
	skel->rodata->vmemmap_base_value = vmemmap_value;
	err = scan__load(skel);
	if (err) {
		json("{\"kind\":\"error\",\"code\":\"DAXMON_E_SCAN_LOAD\",\"message\":\"load: %s\"}",
		     strerror(-err));
		return 1;
	}
	prog_fd = bpf_program__fd(skel->progs.scan_pages);

	/* a zero-length run proves BPF_PROG_TEST_RUN works and tells whether vmemmap_base is readable */
	{
		LIBBPF_OPTS(bpf_test_run_opts, topts);
		skel->bss->batch_nr = 0;
		err = bpf_prog_test_run_opts(prog_fd, &topts);
		if (err) {
			json("{\"kind\":\"error\",\"code\":\"DAXMON_E_SCAN_TEST_RUN\",\"message\":\"BPF_PROG_TEST_RUN: %s\"}",
			     strerror(errno));
			return 1;
		}
	}
	json("{\"kind\":\"hello\",\"batch\":%d,\"page_record\":%d,\"vmemmap_base\":%s,\"vmemmap_from\":\"%s\"}",
	     DAXMON_SCAN_BATCH, DAXMON_SCAN_PAGE_SIZE, skel->bss->vmemmap_seen ? "true" : "false",
	     vmemmap_value ? "argument" : vmemmap_addr ? "kallsyms" : "none");

	while (fgets(line, sizeof(line), stdin)) {
		unsigned long long start, nr, pps;
		uint64_t t0, faults = 0, done = 0;

		if (sscanf(line, "scan %llu %llu %llu", &start, &nr, &pps) != 3) {
			json("{\"kind\":\"error\",\"code\":\"DAXMON_E_SCAN_REQUEST\",\"message\":\"bad request\"}");
			continue;
		}
		t0 = now_ns();
		while (done < nr) {
			LIBBPF_OPTS(bpf_test_run_opts, topts);
			struct daxmon_scan_batch b;
			uint32_t n = nr - done > DAXMON_SCAN_BATCH ? DAXMON_SCAN_BATCH : (uint32_t)(nr - done);

			skel->bss->batch_start_pfn = start + done;
			skel->bss->batch_nr = n;
			if (bpf_prog_test_run_opts(prog_fd, &topts) || skel->bss->batch_done != n) {
				json("{\"kind\":\"error\",\"code\":\"DAXMON_E_SCAN_RUN\",\"message\":\"scan of %u pages at pfn %llu failed: %s\"}",
				     n, (unsigned long long)(start + done),
				     skel->bss->vmemmap_seen ? strerror(errno) : "vmemmap_base unknown");
				break;
			}
			b.start_pfn = start + done;
			b.nr = n;
			b.faults = skel->bss->batch_faults;
			faults += b.faults;
			frame(DAXMON_FRAME_SCAN_PAGES, &b, sizeof(b), (const void *)skel->bss->out,
			      (size_t)n * sizeof(struct daxmon_scan_page));
			done += n;
			if (pps && done < nr) {
				/* budget: never ahead of done/pps seconds since the start */
				uint64_t due = t0 + done * 1000000000ull / pps, t = now_ns();

				if (due > t) {
					struct timespec ts = { .tv_sec = (time_t)((due - t) / 1000000000ull),
							       .tv_nsec = (long)((due - t) % 1000000000ull) };
					nanosleep(&ts, NULL);
				}
			}
		}
		json("{\"kind\":\"done\",\"start\":%llu,\"nr\":%" PRIu64 ",\"faults\":%" PRIu64 ",\"ns\":%" PRIu64 "}",
		     start, done, faults, now_ns() - t0);
	}
	scan__destroy(skel);
	return 0;
}
