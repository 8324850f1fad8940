// SPDX-License-Identifier: GPL-2.0
/*
 * daxmon-loader: loads daxmon.bpf.o, attaches the programs Node asked for, and streams the
 * ring buffer's fixed-size records to stdout in frames (bpf/include/daxmon_record.h,
 * docs/backend-protocol.md).
 *
 *   daxmon-loader [--enable PROG[@TARGET],...|all] [--strict] [--ringbuf-mb N]
 *                 [--pgmap-range START:NR ...] [--stacks none|default|all] [--flush-ms N]
 *                 [--zone-shift N] [--list] [--text] [--verbose] OBJECT
 *
 * A program that does not load or attach is reported (an `attach` frame with the error) and the
 * rest carry on; --strict makes any such failure fatal. Nothing is dropped silently: ring-buffer
 * reservation failures are counted per CPU in the kernel and reported as `lost` frames.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include "daxmon_record.h"
#include "daxmon_cfg.h"

#ifndef DAXMON_LOADER_VERSION
#define DAXMON_LOADER_VERSION "0.0.0"
#endif
#ifndef DAXMON_LIBBPF_VERSION
#define DAXMON_LIBBPF_VERSION "unknown"
#endif

#define MAX_ENABLE 256
#define MAX_USER_RANGES DAXMON_MAX_RANGES
#define STACK_DEPTH 48 /* keep in step with daxmon.bpf.c */
#define STACK_IDS 8192 /* the stack map's max_entries */
#define OUT_FLUSH_BYTES (1 << 20)
/* Stop draining the ring (the kernel then counts drops) if stdout falls this far behind. */
#define OUT_MAX_BYTES (256UL << 20)
#define POLL_MS 10
#define COUNTER_POLL_MS 1000

/* ---- options ------------------------------------------------------------------------------- */

struct want {
	char *name;   /* program name */
	char *target; /* attach target override (PROG@TARGET), or NULL */
	bool loadable;
	bool attached;
	struct bpf_link *link;
	int fd;			/* the loaded program, for bpf_obj_get_info_by_fd */
	uint64_t seen_runs;	/* run_cnt / recursion_misses last reported */
	uint64_t seen_misses;
	unsigned int verified_insns;
	char error[512];
};

/*
 * One kernel hook Node wants covered, with alternative ways to cover it in preference order
 * (e.g. fexit, else kprobe+kretprobe). An alternative is used only if every program of it
 * loads and attaches.
 */
#define MAX_HOOKS 256
#define MAX_ALTS 4
#define MAX_ALT_PROGS 4
struct alt {
	int prog[MAX_ALT_PROGS]; /* indexes into opt.want */
	int n;
};
struct hook {
	struct alt alts[MAX_ALTS];
	int n_alts;
	int chosen; /* index into alts, -1: none worked */
};

static struct {
	struct want want[MAX_ENABLE];
	int n_want;
	struct hook hooks[MAX_HOOKS];
	int n_hooks;
	bool enable_all;
	bool strict, list, text, verbose, verify, no_run_stats;
	unsigned int ringbuf_mb;
	struct daxmon_range ranges[MAX_USER_RANGES];
	int n_ranges;
	int stacks;
	unsigned int flush_ms;
	int zone_shift; /* -1: derive */
	const char *object;
} opt = {
	.ringbuf_mb = 16,
	.stacks = DAXMON_STACKS_DEFAULT,
	.flush_ms = 50,
	.zone_shift = -1,
};

static volatile sig_atomic_t stop;

/* ---- output: frames on stdout ------------------------------------------------------------- */

static char *obuf;
static size_t olen, ocap;
static size_t frame_hdr = (size_t)-1; /* offset of the open records frame, or -1 */
static uint64_t records_out;

static void die_epipe(void)
{
	/* Node went away: nobody is left to read what we would write. */
	fprintf(stderr, "daxmon-loader: stdout closed, exiting\n");
	exit(0);
}

static void obuf_reserve(size_t n)
{
	if (olen + n <= ocap)
		return;
	while (olen + n > ocap)
		ocap = ocap ? ocap * 2 : (4 << 20);
	obuf = realloc(obuf, ocap);
	if (!obuf) {
		fprintf(stderr, "daxmon-loader: out of memory\n");
		exit(1);
	}
}

static void frame_close(void)
{
	struct daxmon_frame_hdr h;

	if (frame_hdr == (size_t)-1)
		return;
	h.len = olen - frame_hdr - sizeof(h);
	h.kind = DAXMON_FRAME_RECORDS;
	h.version = DAXMON_WIRE_VERSION;
	if (h.len == 0)
		olen = frame_hdr; /* empty frame: drop it */
	else
		memcpy(obuf + frame_hdr, &h, sizeof(h));
	frame_hdr = (size_t)-1;
}

static void out_flush(void);

static void write_all(const char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = write(STDOUT_FILENO, buf + off, len - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE)
				die_epipe();
			fprintf(stderr, "daxmon-loader: write stdout: %s\n", strerror(errno));
			exit(1);
		}
		off += n;
	}
}

/*
 * While streaming, a writer thread owns stdout: the loop that drains the ring buffer hands it
 * whole buffers and never waits for a slow reader, so a burst (munmap of a large file frees
 * every folio within milliseconds) lands in user memory instead of overflowing the ring.
 */
static pthread_mutex_t wlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wcond = PTHREAD_COND_INITIALIZER;
static char *wbuf;
static size_t wlen, wcap;
static bool writer_running;

static void *writer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&wlock);
	for (;;) {
		while (!wlen)
			pthread_cond_wait(&wcond, &wlock);
		pthread_mutex_unlock(&wlock);
		write_all(wbuf, wlen);
		pthread_mutex_lock(&wlock);
		wlen = 0;
		pthread_cond_broadcast(&wcond);
	}
	return NULL;
}

static void writer_start(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, writer_main, NULL) == 0) {
		pthread_detach(t);
		writer_running = true;
	}
}

/* Give the buffered frames to the writer if it is idle; otherwise keep collecting. */
static void out_handoff(void)
{
	if (!writer_running) {
		out_flush();
		return;
	}
	frame_close();
	if (!olen)
		return;
	pthread_mutex_lock(&wlock);
	if (!wlen) {
		char *b = wbuf;
		size_t c = wcap;

		wbuf = obuf;
		wlen = olen;
		wcap = ocap;
		obuf = b;
		ocap = c;
		olen = 0;
		pthread_cond_broadcast(&wcond);
	}
	pthread_mutex_unlock(&wlock);
}

/* Write everything now, after whatever the writer still holds (ordering is kept). */
static void out_flush(void)
{
	frame_close();
	if (writer_running) {
		pthread_mutex_lock(&wlock);
		while (wlen)
			pthread_cond_wait(&wcond, &wlock);
		pthread_mutex_unlock(&wlock);
	}
	write_all(obuf, olen);
	olen = 0;
}

/* One JSON meta object; text mode prints it as a line. */
static void out_json(const char *json)
{
	size_t len = strlen(json);

	frame_close();
	if (opt.text) {
		obuf_reserve(len + 1);
		memcpy(obuf + olen, json, len);
		olen += len;
		obuf[olen++] = '\n';
		return;
	}
	struct daxmon_frame_hdr h = { .len = len, .kind = DAXMON_FRAME_JSON,
				      .version = DAXMON_WIRE_VERSION };
	obuf_reserve(sizeof(h) + len);
	memcpy(obuf + olen, &h, sizeof(h));
	olen += sizeof(h);
	memcpy(obuf + olen, json, len);
	olen += len;
}

/* A growing string for building JSON. */
struct sbuf {
	char *s;
	size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (b->s && b->len + n < b->cap)
			break;
		b->cap = (b->cap + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		if (!b->s)
			exit(1);
	}
	b->len += n;
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, "\"");
	for (; s && *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			sb_add(b, "\\%c", c);
		else if (c < 0x20)
			sb_add(b, "\\u%04x", c);
		else
			sb_add(b, "%c", c);
	}
	sb_add(b, "\"");
}

/*
 * One JSON frame placed *before* everything not yet handed to the writer. Used for program
 * statistics: a skipped run happened before the read that saw it, so every record produced after
 * the skip was consumed after the previous read, i.e. is still in obuf (docs/backend-protocol.md
 * "prog_stats"). Putting the gap marker in front of them errs on the early side, never late.
 */
static void out_json_head(const char *json)
{
	size_t len = strlen(json);
	struct daxmon_frame_hdr h = { .len = len, .kind = DAXMON_FRAME_JSON,
				      .version = DAXMON_WIRE_VERSION };
	size_t n = sizeof(h) + len;

	if (opt.text) {
		out_json(json);
		return;
	}
	frame_close();
	obuf_reserve(n);
	memmove(obuf + n, obuf, olen);
	memcpy(obuf, &h, sizeof(h));
	memcpy(obuf + sizeof(h), json, len);
	olen += n;
}

static void sb_emit(struct sbuf *b)
{
	out_json(b->s);
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

static void out_error(const char *code, const char *fmt, ...)
{
	struct sbuf b = {};
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "daxmon-loader: %s: %s\n", code, msg);
	sb_add(&b, "{\"kind\":\"error\",\"code\":");
	sb_str(&b, code);
	sb_add(&b, ",\"message\":");
	sb_str(&b, msg);
	sb_add(&b, "}");
	sb_emit(&b);
	out_flush();
}

/* ---- libbpf log capture --------------------------------------------------------------------- */

/*
 * The most useful thing libbpf said about the last failure: its own one-line reason ("failed to
 * find kernel BTF type ID of 'x'", "failed to create kprobe ...") and, for verifier rejections,
 * the last line of the verifier log.
 */
static char last_log[1024];
static char verifier_log[512];
static char failed_prog[256]; /* the program libbpf named in its last failure */

static void chomp(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = 0;
}

static void keep_verifier_tail(const char *log)
{
	const char *end = strstr(log, "-- END PROG LOAD LOG --");
	const char *b, *e;

	if (!end)
		end = log + strlen(log);
	/* the last line that is not a statistic ("processed N insns", ...) says why */
	e = end;
	for (;;) {
		while (e > log && (e[-1] == '\n' || e[-1] == ' '))
			e--;
		b = e;
		while (b > log && b[-1] != '\n')
			b--;
		if (b == e || (strncmp(b, "processed ", 10) && strncmp(b, "verification time", 17) &&
			       strncmp(b, "stack depth", 11)))
			break;
		e = b;
	}
	snprintf(verifier_log, sizeof(verifier_log), "%.*s", (int)(e - b), b);
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *buf = NULL, *line, *begin;

	/* a verifier log can be megabytes: format into a buffer of its own size */
	if (vasprintf(&buf, fmt, ap) < 0)
		return 0;
	line = buf;
	if (opt.verbose)
		fputs(buf, stderr);
	if (level > LIBBPF_WARN)
		goto out;
	begin = strstr(line, "-- BEGIN PROG LOAD LOG --");
	if (begin) {
		keep_verifier_tail(begin + strlen("-- BEGIN PROG LOAD LOG --"));
		goto out;
	}
	if (strstr(line, "failed to load object") || strstr(line, "failed to load: -") ||
	    strstr(line, "ulimit -l"))
		goto out;
	if (!strncmp(line, "libbpf: ", 8))
		line += 8;
	if (!strncmp(line, "prog '", 6) && strstr(line, "fail")) {
		const char *end = strchr(line + 6, '\'');

		if (end)
			snprintf(failed_prog, sizeof(failed_prog), "%.*s", (int)(end - line - 6), line + 6);
	}
	snprintf(last_log, sizeof(last_log), "%s", line);
	chomp(last_log);
out:
	free(buf);
	return 0;
}

static void clear_log(void)
{
	last_log[0] = 0;
	verifier_log[0] = 0;
	failed_prog[0] = 0;
}

/* "reason[: verifier's last line]" for an attach frame's error */
static void describe_failure(char *out, size_t len, const char *what, int err)
{
	snprintf(out, len, "%s: %s%s%s%s%s", what, strerror(err), last_log[0] ? "; " : "", last_log,
		 verifier_log[0] ? "; verifier: " : "", verifier_log);
}

/* ---- kallsyms ----------------------------------------------------------------------------------- */

struct ksym {
	uint64_t addr;
	char *name; /* "func" or "func [mod]" */
};

static struct ksym *ksyms;
static size_t n_ksyms;
static time_t ksyms_loaded_at;
static uint64_t vmemmap_base_addr;

static int ksym_cmp(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static void ksyms_load(void)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	char line[512];
	size_t cap = 0;

	for (size_t i = 0; i < n_ksyms; i++)
		free(ksyms[i].name);
	n_ksyms = 0;
	ksyms_loaded_at = time(NULL);
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char type, name[256], mod[128] = "";
		unsigned long long addr;
		int n = sscanf(line, "%llx %c %255s %127s", &addr, &type, name, mod);

		if (n < 3)
			continue;
		if (!strcmp(name, "vmemmap_base"))
			vmemmap_base_addr = addr;
		if (type != 't' && type != 'T' && type != 'w' && type != 'W')
			continue;
		if (n_ksyms == cap) {
			cap = cap ? cap * 2 : 65536;
			ksyms = realloc(ksyms, cap * sizeof(*ksyms));
			if (!ksyms)
				exit(1);
		}
		ksyms[n_ksyms].addr = addr;
		if (n == 4)
			asprintf(&ksyms[n_ksyms].name, "%s %s", name, mod);
		else
			ksyms[n_ksyms].name = strdup(name);
		n_ksyms++;
	}
	fclose(f);
	qsort(ksyms, n_ksyms, sizeof(*ksyms), ksym_cmp);
}

static const struct ksym *ksym_find(uint64_t ip)
{
	size_t lo = 0, hi = n_ksyms;

	if (!n_ksyms || ip < ksyms[0].addr)
		return NULL;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (ksyms[mid].addr <= ip)
			lo = mid;
		else
			hi = mid;
	}
	return &ksyms[lo];
}

/* JITed BPF programs and trampolines are listed as "[bpf]" (CONFIG_BPF_JIT, bpf_jit_kallsyms). */
static bool in_bpf(uint64_t ip)
{
	const struct ksym *k = ksym_find(ip);
	size_t n;

	if (!k)
		return false;
	n = strlen(k->name);
	return (n > 6 && !strcmp(k->name + n - 6, " [bpf]")) || !strncmp(k->name, "bpf_trampoline_", 15);
}

/* "func+0x1a" or "func+0x1a [xfs]"; addresses never leave the loader (KASLR). */
static void symbolize(uint64_t ip, struct sbuf *b)
{
	const struct ksym *k = ksym_find(ip);

	/* far past the nearest symbol: perhaps a module loaded since; reload at most every 10 s */
	if ((!k || ip - k->addr > (1 << 20)) && time(NULL) - ksyms_loaded_at >= 10) {
		ksyms_load();
		k = ksym_find(ip);
	}
	if (!k || ip - k->addr > (1 << 20)) {
		sb_str(b, "?");
		return;
	}
	const char *sp = strchr(k->name, ' ');
	char tmp[512];

	if (sp)
		snprintf(tmp, sizeof(tmp), "%.*s+0x%" PRIx64 "%s", (int)(sp - k->name), k->name,
			 ip - k->addr, sp);
	else
		snprintf(tmp, sizeof(tmp), "%s+0x%" PRIx64, k->name, ip - k->addr);
	sb_str(b, tmp);
}

/* ---- zone layout ---------------------------------------------------------------------------------- */

static long btf_enum_value(const struct btf *btf, const char *enum_name, const char *val)
{
	int id = btf__find_by_name_kind(btf, enum_name, BTF_KIND_ENUM);
	const struct btf_type *t;

	if (id < 0)
		return -1;
	t = btf__type_by_id(btf, id);
	for (int i = 0; i < btf_vlen(t); i++) {
		const struct btf_enum *e = btf_enum(t) + i;

		if (!strcmp(btf__name_by_offset(btf, e->name_off), val))
			return e->val;
	}
	return -1;
}

/* Does a struct have this member, looking through anonymous structs and unions? */
static bool btf_type_has_member(const struct btf *btf, const struct btf_type *t, const char *member,
				int depth)
{
	if (depth > 8 || !btf_is_composite(t))
		return false;
	for (int i = 0; i < btf_vlen(t); i++) {
		const struct btf_member *m = btf_members(t) + i;
		const char *n = btf__name_by_offset(btf, m->name_off);

		if (n && !strcmp(n, member))
			return true;
		if ((!n || !*n) &&
		    btf_type_has_member(btf, btf__type_by_id(btf, m->type), member, depth + 1))
			return true;
	}
	return false;
}

static bool btf_has_member(const struct btf *btf, const char *sname, const char *member)
{
	int id = btf__find_by_name_kind(btf, sname, BTF_KIND_STRUCT);

	return id >= 0 && btf_type_has_member(btf, btf__type_by_id(btf, id), member, 0);
}

static int config_nodes_shift(void)
{
	struct utsname u;
	char path[256], line[256];
	FILE *f;
	int v = -1;

	if (uname(&u))
		return -1;
	snprintf(path, sizeof(path), "/boot/config-%s", u.release);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CONFIG_NODES_SHIFT=%d", &v) == 1)
			break;
	fclose(f);
	return v;
}

struct zone_layout {
	int shift, mask, device;
	const char *how;
};

/*
 * include/linux/page-flags-layout.h on x86-64 SPARSEMEM_VMEMMAP (SECTIONS_WIDTH = 0):
 * page->flags = | NODE | ZONE | ... | FLAGS |, ZONES_PGSHIFT = 64 - NODES_WIDTH - ZONES_SHIFT.
 * ZONES_SHIFT follows MAX_NR_ZONES (bounds.h); NODES_SHIFT is CONFIG_NODES_SHIFT, which is not in
 * BTF, but nodemask_t is MAX_NUMNODES bits (exact when NODES_SHIFT >= 6, as in every distro
 * kernel). Nodes move out of page->flags when they do not fit (NODE_NOT_IN_PAGE_FLAGS).
 */
static bool zone_layout(const struct btf *btf, struct zone_layout *z)
{
	long max_zones = btf_enum_value(btf, "zone_type", "__MAX_NR_ZONES");
	long dev = btf_enum_value(btf, "zone_type", "ZONE_DEVICE");
	long nr_pageflags = btf_enum_value(btf, "pageflags", "__NR_PAGEFLAGS");
	int zones_shift, nodes_shift = config_nodes_shift();

	if (max_zones < 0 || dev < 0)
		return false;
	zones_shift = max_zones <= 1 ? 0 : max_zones <= 2 ? 1 : max_zones <= 4 ? 2 : 3;
	z->how = "CONFIG_NODES_SHIFT";
	if (nodes_shift < 0) {
		int id = btf__find_by_name_kind(btf, "nodemask_t", BTF_KIND_TYPEDEF);
		long sz = id >= 0 ? btf__resolve_size(btf, id) : -1;

		if (sz <= 0)
			return false;
		nodes_shift = 0;
		while ((1L << nodes_shift) < sz * 8)
			nodes_shift++;
		z->how = "nodemask_t";
	}
	if (nr_pageflags > 0 && zones_shift + nodes_shift > 64 - nr_pageflags)
		nodes_shift = 0;
	z->shift = 64 - nodes_shift - zones_shift;
	z->mask = (1 << zones_shift) - 1;
	z->device = dev;
	if (opt.zone_shift >= 0) {
		z->shift = opt.zone_shift;
		z->how = "--zone-shift";
	}
	return true;
}

/* The value of an enumerator of any enum (FOLL_* live in an anonymous one), -1 if none. */
static long btf_any_enum_value(const struct btf *btf, const char *name)
{
	int n = btf__type_cnt(btf);

	for (int id = 1; id < n; id++) {
		const struct btf_type *t = btf__type_by_id(btf, id);

		if (!btf_is_enum(t))
			continue;
		for (int i = 0; i < btf_vlen(t); i++) {
			const struct btf_enum *e = btf_enum(t) + i;

			if (!strcmp(btf__name_by_offset(btf, e->name_off), name))
				return e->val;
		}
	}
	return -1;
}

/*
 * FOLL_* values: include/linux/mm_types.h has them in an enum from 6.3 (in BTF); before that
 * they are #defines, identical from 5.8 to 6.2 (include/linux/mm.h, 6.1).
 */
static void foll_values(const struct btf *btf, struct daxmon_cfg *c)
{
	long pin = btf_any_enum_value(btf, "FOLL_PIN");

	if (pin > 0) {
		c->foll_write = btf_any_enum_value(btf, "FOLL_WRITE");
		c->foll_get = btf_any_enum_value(btf, "FOLL_GET");
		c->foll_longterm = btf_any_enum_value(btf, "FOLL_LONGTERM");
		c->foll_pci_p2pdma = btf_any_enum_value(btf, "FOLL_PCI_P2PDMA");
		c->foll_pin = pin;
		return;
	}
	c->foll_write = 0x01;
	c->foll_get = 0x04;
	c->foll_longterm = 0x10000;
	c->foll_pci_p2pdma = 0x100000;
	c->foll_pin = 0x40000;
}

/* ---- programs ----------------------------------------------------------------------------------- */

/* "probe__type__target": the logical probe is everything before the first "__". */
static void prog_probe(const char *name, char *out, size_t len)
{
	const char *s = strstr(name, "__");
	size_t n = s ? (size_t)(s - name) : strlen(name);

	snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), name);
}

static const char *sec_target(const char *sec)
{
	const char *s = strchr(sec, '/');

	return s ? s + 1 : sec;
}

static bool is_kprobe_sec(const char *sec)
{
	return !strncmp(sec, "kprobe/", 7) || !strncmp(sec, "kretprobe/", 10);
}

static struct want *want_find(const char *name)
{
	for (int i = 0; i < opt.n_want; i++)
		if (!strcmp(opt.want[i].name, name))
			return &opt.want[i];
	return NULL;
}

static int list_programs(struct bpf_object *obj)
{
	struct bpf_program *p;
	struct sbuf b = {};
	bool first = true;

	sb_add(&b, "{\"programs\":[");
	bpf_object__for_each_program(p, obj) {
		const char *name = bpf_program__name(p), *sec = bpf_program__section_name(p);
		char probe[128], type[32];

		prog_probe(name, probe, sizeof(probe));
		snprintf(type, sizeof(type), "%.*s", (int)(strchr(sec, '/') ? strchr(sec, '/') - sec : 0),
			 sec);
		sb_add(&b, "%s{\"name\":", first ? "" : ",");
		sb_str(&b, name);
		sb_add(&b, ",\"section\":");
		sb_str(&b, sec);
		sb_add(&b, ",\"probe\":");
		sb_str(&b, probe);
		sb_add(&b, ",\"type\":");
		sb_str(&b, type);
		sb_add(&b, ",\"target\":");
		sb_str(&b, sec_target(sec));
		sb_add(&b, "}");
		first = false;
	}
	sb_add(&b, "]}\n");
	fputs(b.s, stdout);
	free(b.s);
	return 0;
}

static struct daxmon_cfg cfg;

/* Open the object with only the loadable wanted programs set to load, sized and configured. */
static struct bpf_object *open_configured(unsigned int ring_bytes)
{
	struct bpf_object *obj = bpf_object__open_file(opt.object, NULL);
	struct bpf_program *p;
	struct bpf_map *m;

	if (!obj)
		return NULL;
	bpf_object__for_each_program(p, obj) {
		struct want *w = want_find(bpf_program__name(p));
		bool on = w && w->loadable;

		bpf_program__set_autoload(p, on);
		if (on && w->target && !is_kprobe_sec(bpf_program__section_name(p)))
			bpf_program__set_attach_target(p, 0, w->target);
	}
	m = bpf_object__find_map_by_name(obj, "events");
	if (m)
		bpf_map__set_max_entries(m, ring_bytes);
	m = bpf_object__find_map_by_name(obj, ".rodata.cfg");
	if (m)
		bpf_map__set_initial_value(m, &cfg, sizeof(cfg));
	m = bpf_object__find_map_by_name(obj, ".data.ranges");
	if (m)
		bpf_map__set_initial_value(m, opt.ranges, sizeof(opt.ranges));
	return obj;
}

/* Load one program alone to learn whether, and why not, it loads on this kernel. */
static void check_one(struct want *w)
{
	struct bpf_object *obj = bpf_object__open_file(opt.object, NULL);
	struct bpf_program *p;
	struct bpf_map *m;
	int err;

	clear_log();
	if (!obj) {
		snprintf(w->error, sizeof(w->error), "open: %s", strerror(errno));
		return;
	}
	bpf_object__for_each_program(p, obj) {
		bool on = !strcmp(bpf_program__name(p), w->name);

		bpf_program__set_autoload(p, on);
		if (on && w->target && !is_kprobe_sec(bpf_program__section_name(p)))
			bpf_program__set_attach_target(p, 0, w->target);
	}
	m = bpf_object__find_map_by_name(obj, "events");
	if (m)
		bpf_map__set_max_entries(m, 4096);
	m = bpf_object__find_map_by_name(obj, ".rodata.cfg");
	if (m)
		bpf_map__set_initial_value(m, &cfg, sizeof(cfg));
	err = bpf_object__load(obj);
	if (err) {
		describe_failure(w->error, sizeof(w->error), "load", -err);
		w->loadable = false;
	} else {
		struct bpf_program *p = bpf_object__find_program_by_name(obj, w->name);
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		w->loadable = true;
		if (p && !bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len))
			w->verified_insns = info.verified_insns;
	}
	bpf_object__close(obj);
}

static struct bpf_link *attach_one(struct bpf_program *p, struct want *w)
{
	const char *sec = bpf_program__section_name(p);

	if (is_kprobe_sec(sec)) {
		LIBBPF_OPTS(bpf_kprobe_opts, ko, .retprobe = !strncmp(sec, "kretprobe/", 10));

		return bpf_program__attach_kprobe_opts(p, w->target ? w->target : sec_target(sec),
						       &ko);
	}
	return bpf_program__attach(p);
}

static void out_attach(const char *name, const char *sec, const struct want *w)
{
	struct sbuf b = {};
	char probe[128], target[256];

	prog_probe(name, probe, sizeof(probe));
	snprintf(target, sizeof(target), "%.*s/%s",
		 (int)(strchr(sec, '/') ? strchr(sec, '/') - sec : (long)strlen(sec)), sec,
		 w->target ? w->target : sec_target(sec));
	sb_add(&b, "{\"kind\":\"attach\",\"probe\":");
	sb_str(&b, probe);
	sb_add(&b, ",\"program\":");
	sb_str(&b, name);
	sb_add(&b, ",\"target\":");
	sb_str(&b, target);
	sb_add(&b, ",\"attached\":%s,\"error\":", w->attached ? "true" : "false");
	if (w->attached)
		sb_add(&b, "null");
	else
		sb_str(&b, w->error[0] ? w->error : "failed");
	sb_add(&b, "}");
	sb_emit(&b);
}

/* The attach frames of one hook: its chosen programs, or why no alternative worked. */
static void report_hook(struct bpf_object *obj, const struct hook *h)
{
	const struct alt *show = &h->alts[h->chosen >= 0 ? h->chosen : 0];

	for (int k = 0; k < show->n; k++) {
		struct want w = opt.want[show->prog[k]];
		struct bpf_program *q = bpf_object__find_program_by_name(obj, w.name);

		w.attached = h->chosen >= 0;
		if (!w.attached) {
			/* every alternative's first failure, in order */
			char all[512] = "";
			size_t len = 0;

			for (int a = 0; a < h->n_alts; a++)
				for (int j = 0; j < h->alts[a].n; j++) {
					const struct want *x = &opt.want[h->alts[a].prog[j]];

					if (!x->error[0])
						continue;
					len += snprintf(all + len, len < sizeof(all) ? sizeof(all) - len : 0,
							"%s%s: %s", len ? " | " : "", x->name, x->error);
					break;
				}
			snprintf(w.error, sizeof(w.error), "%s", all[0] ? all : "failed");
		}
		out_attach(w.name, q ? bpf_program__section_name(q) : "?/?", &w);
	}
}

/* "probe":{"hooks":N,"attached":M} for every logical probe named in --enable */
static void probe_summary(struct sbuf *b)
{
	char seen[MAX_HOOKS][128];
	int n_seen = 0;

	for (int i = 0; i < opt.n_hooks; i++) {
		char probe[128];
		int hooks = 0, attached = 0;
		bool dup = false;

		prog_probe(opt.want[opt.hooks[i].alts[0].prog[0]].name, probe, sizeof(probe));
		for (int j = 0; j < n_seen; j++)
			dup |= !strcmp(seen[j], probe);
		if (dup)
			continue;
		snprintf(seen[n_seen++], sizeof(seen[0]), "%s", probe);
		for (int j = i; j < opt.n_hooks; j++) {
			char pj[128];

			prog_probe(opt.want[opt.hooks[j].alts[0].prog[0]].name, pj, sizeof(pj));
			if (strcmp(pj, probe))
				continue;
			hooks++;
			attached += opt.hooks[j].chosen >= 0;
		}
		sb_add(b, "%s", n_seen > 1 ? "," : "");
		sb_str(b, probe);
		sb_add(b, ":{\"hooks\":%d,\"attached\":%d}", hooks, attached);
	}
}

/* ---- records ------------------------------------------------------------------------------------ */

static int stack_map_fd = -1;
static uint8_t stack_sent[STACK_IDS / 8];

static void send_stack(uint32_t id)
{
	uint64_t ips[STACK_DEPTH] = {};
	struct sbuf b = {};
	bool first = true;

	if (id >= STACK_IDS || (stack_sent[id / 8] & (1 << (id % 8))))
		return;
	stack_sent[id / 8] |= 1 << (id % 8);
	sb_add(&b, "{\"kind\":\"stack\",\"id\":%u,\"frames\":[", id);
	if (stack_map_fd >= 0 && !bpf_map_lookup_elem(stack_map_fd, &id, ips)) {
		int i = 0;

		/* the innermost frames are the BPF program and its trampoline: not the kernel's */
		while (i < STACK_DEPTH && ips[i] && in_bpf(ips[i]))
			i++;
		for (; i < STACK_DEPTH && ips[i]; i++) {
			if (!first)
				sb_add(&b, ",");
			symbolize(ips[i], &b);
			first = false;
		}
	}
	sb_add(&b, "]}");
	sb_emit(&b);
}

static const char *const rec_names[] = {
	[DAXMON_REC_PGMAP_REGISTERED] = "pgmap_registered",
	[DAXMON_REC_PGMAP_TEARDOWN_BEGIN] = "pgmap_teardown_begin",
	[DAXMON_REC_PGMAP_REF_RELEASED] = "pgmap_ref_released",
	[DAXMON_REC_PGMAP_TEARDOWN_DONE] = "pgmap_teardown_done",
	[DAXMON_REC_DAX_FAULT] = "dax_fault",
	[DAXMON_REC_DAX_ENTRY_INSERT] = "dax_entry_insert",
	[DAXMON_REC_DAX_ENTRY_REMOVE] = "dax_entry_remove",
	[DAXMON_REC_FOLIO_MAP] = "folio_map",
	[DAXMON_REC_FOLIO_UNMAP] = "folio_unmap",
	[DAXMON_REC_GUP] = "gup",
	[DAXMON_REC_GUP_LONGTERM_REFUSED] = "gup_longterm_refused",
	[DAXMON_REC_FOLIO_PUT] = "folio_put",
	[DAXMON_REC_FOLIO_IDLE] = "folio_idle",
	[DAXMON_REC_ZONE_DEVICE_FREE] = "zone_device_free",
	[DAXMON_REC_BUSY_PAGE_FOUND] = "busy_page_found",
	[DAXMON_REC_LAYOUT_BREAK_BEGIN] = "layout_break_begin",
	[DAXMON_REC_LAYOUT_BREAK_END] = "layout_break_end",
	[DAXMON_REC_REFCOUNT_SAMPLE] = "refcount_sample",
};

static void text_record(const struct daxmon_rec *r)
{
	char line[512];
	const char *name = r->type < sizeof(rec_names) / sizeof(rec_names[0]) && rec_names[r->type]
				   ? rec_names[r->type]
				   : "?";
	int n = snprintf(line, sizeof(line),
			 "%" PRIu64 " %s pid=%u tid=%u comm=%.16s pfn=0x%" PRIx64 " order=%u ref=%d "
			 "map=%d a=%" PRIu64 " b=%" PRIu64 " d=%" PRId64 " ret=%d sub=%u flags=0x%x "
			 "key=0x%" PRIx64 " stack=%d\n",
			 (uint64_t)r->t, name, r->pid, r->tid, r->comm, (uint64_t)r->pfn, r->order,
			 r->refcount, r->mapcount, (uint64_t)r->a, (uint64_t)r->b, (int64_t)r->d,
			 r->ret, r->sub, r->flags, (uint64_t)r->key, r->stack_id);

	obuf_reserve(n);
	memcpy(obuf + olen, line, n);
	olen += n;
}

static int on_record(void *ctx, void *data, size_t size)
{
	const struct daxmon_rec *r = data;

	(void)ctx;
	if (size < sizeof(*r))
		return 0;
	if (r->stack_id >= 0)
		send_stack(r->stack_id);
	records_out++;
	if (opt.text) {
		text_record(r);
		return 0;
	}
	if (frame_hdr == (size_t)-1) {
		obuf_reserve(sizeof(struct daxmon_frame_hdr));
		frame_hdr = olen;
		olen += sizeof(struct daxmon_frame_hdr);
	}
	obuf_reserve(sizeof(*r));
	memcpy(obuf + olen, r, sizeof(*r));
	olen += sizeof(*r);
	return 0;
}

/* ---- counters -------------------------------------------------------------------------------------- */

static int counters_fd = -1;
static int ncpus;
static uint64_t counter_seen[DAXMON_CNT_NR];

static void read_counters(uint64_t *out)
{
	uint64_t *vals = calloc(ncpus, sizeof(uint64_t));

	for (uint32_t i = 0; i < DAXMON_CNT_NR; i++) {
		out[i] = 0;
		if (!vals || counters_fd < 0 || bpf_map_lookup_elem(counters_fd, &i, vals))
			continue;
		for (int c = 0; c < ncpus; c++)
			out[i] += vals[c];
	}
	free(vals);
}

static void poll_counters(bool final)
{
	uint64_t now[DAXMON_CNT_NR];
	bool changed = false;
	struct sbuf b = {};

	read_counters(now);
	if (now[DAXMON_CNT_LOST] != counter_seen[DAXMON_CNT_LOST]) {
		sb_add(&b, "{\"kind\":\"lost\",\"count\":%" PRIu64 ",\"total\":%" PRIu64 "}",
		       now[DAXMON_CNT_LOST] - counter_seen[DAXMON_CNT_LOST], now[DAXMON_CNT_LOST]);
		sb_emit(&b);
	}
	for (int i = 1; i < DAXMON_CNT_NR; i++)
		changed |= now[i] != counter_seen[i];
	memcpy(counter_seen, now, sizeof(now));
	if (!changed && !final)
		return;
	sb_add(&b,
	       "{\"kind\":\"stats\",\"records\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"bad_args\":%" PRIu64
	       ",\"zone_mismatch\":%" PRIu64 ",\"no_stack\":%" PRIu64 ",\"ranges_full\":%" PRIu64
	       ",\"final\":%s}",
	       records_out, now[DAXMON_CNT_LOST], now[DAXMON_CNT_BAD_ARGS],
	       now[DAXMON_CNT_ZONE_MISMATCH], now[DAXMON_CNT_NO_STACK], now[DAXMON_CNT_RANGES_FULL],
	       final ? "true" : "false");
	sb_emit(&b);
}

/* ---- program statistics (docs/kernel-model.md §11) -------------------------------------------------- */

/* Held while streaming: the kernel counts run_cnt/run_time_ns while any such fd is open. */
static int run_stats_fd = -1;
static bool run_stats_on;
#define RUNS_REPORT_MS 10000

/*
 * Read every attached program's bpf_prog_info and send one `prog_stats` frame, at the head of the
 * pending output, listing the programs whose recursion_misses grew (and, with all_runs, every
 * program whose run count changed). Called before each handoff of records to the writer.
 */
static void poll_prog_stats(bool all_runs, bool final)
{
	struct sbuf b = {};
	int n = 0;

	for (int i = 0; i < opt.n_want; i++) {
		struct want *w = &opt.want[i];
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		char probe[128];
		bool runs_known;

		if (!w->link || w->fd < 0 || bpf_obj_get_info_by_fd(w->fd, &info, &len))
			continue;
		if (info.recursion_misses == w->seen_misses && (!all_runs || info.run_cnt == w->seen_runs))
			continue;
		runs_known = run_stats_on || info.run_cnt > 0;
		prog_probe(w->name, probe, sizeof(probe));
		sb_add(&b, n++ ? "," : "{\"kind\":\"prog_stats\",\"run_stats\":%s,\"final\":%s,\"programs\":[",
		       run_stats_on ? "true" : "false", final ? "true" : "false");
		sb_add(&b, "{\"program\":");
		sb_str(&b, w->name);
		sb_add(&b, ",\"probe\":");
		sb_str(&b, probe);
		sb_add(&b, ",\"id\":%u,\"missed\":%" PRIu64 ",\"misses\":%" PRIu64 ",\"runs\":", info.id,
		       (uint64_t)info.recursion_misses - w->seen_misses, (uint64_t)info.recursion_misses);
		if (runs_known)
			sb_add(&b, "%" PRIu64 "}", (uint64_t)info.run_cnt);
		else
			sb_add(&b, "null}");
		w->seen_misses = info.recursion_misses;
		w->seen_runs = info.run_cnt;
	}
	if (!n)
		return;
	sb_add(&b, "]}");
	out_json_head(b.s);
	free(b.s);
}

/* ---- main -------------------------------------------------------------------------------------------- */

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: daxmon-loader [--enable HOOK,...|all] [--strict] [--ringbuf-mb N]\n"
		"                     [--pgmap-range START:NR ...] [--stacks none|default|all]\n"
		"                     [--flush-ms N] [--zone-shift N] [--list] [--text] [--verbose]\n"
		"                     [--verify] [--no-run-stats] OBJECT\n"
		"  HOOK = PROG[+PROG...][|PROG[+PROG...]...]: alternatives in preference order,\n"
		"  PROG = NAME[@TARGET] (TARGET overrides the section's function or tracepoint)\n"
		"Streams daxmon records as frames on stdout (docs/backend-protocol.md).\n");
}

static int add_want(const char *item)
{
	char *name = strdup(item), *at = strchr(name, '@');

	if (at)
		*at++ = 0;
	for (int i = 0; i < opt.n_want; i++) {
		struct want *w = &opt.want[i];

		if (!strcmp(w->name, name) && !strcmp(w->target ?: "", at ?: "")) {
			free(name);
			return i;
		}
	}
	if (opt.n_want == MAX_ENABLE) {
		fprintf(stderr, "daxmon-loader: too many programs in --enable\n");
		exit(2);
	}
	opt.want[opt.n_want].name = name;
	opt.want[opt.n_want].target = at && *at ? strdup(at) : NULL;
	return opt.n_want++;
}

/* HOOK = ALT['|'ALT...], ALT = PROG['+'PROG...], PROG = NAME['@'TARGET] */
static void add_hook(char *spec)
{
	struct hook *h;
	char *alt_save = NULL, *alt;

	if (!*spec)
		return;
	if (!strcmp(spec, "all")) {
		opt.enable_all = true;
		return;
	}
	if (opt.n_hooks == MAX_HOOKS) {
		fprintf(stderr, "daxmon-loader: too many hooks in --enable\n");
		exit(2);
	}
	h = &opt.hooks[opt.n_hooks++];
	h->chosen = -1;
	for (alt = strtok_r(spec, "|", &alt_save); alt; alt = strtok_r(NULL, "|", &alt_save)) {
		char *prog_save = NULL, *prog;
		struct alt *a;

		if (h->n_alts == MAX_ALTS) {
			fprintf(stderr, "daxmon-loader: at most %d alternatives per hook\n", MAX_ALTS);
			exit(2);
		}
		a = &h->alts[h->n_alts++];
		for (prog = strtok_r(alt, "+", &prog_save); prog; prog = strtok_r(NULL, "+", &prog_save)) {
			if (a->n == MAX_ALT_PROGS) {
				fprintf(stderr, "daxmon-loader: at most %d programs per alternative\n",
					MAX_ALT_PROGS);
				exit(2);
			}
			a->prog[a->n++] = add_want(prog);
		}
	}
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "enable", required_argument, NULL, 'e' },
		{ "strict", no_argument, NULL, 's' },
		{ "ringbuf-mb", required_argument, NULL, 'r' },
		{ "pgmap-range", required_argument, NULL, 'p' },
		{ "stacks", required_argument, NULL, 'k' },
		{ "flush-ms", required_argument, NULL, 'f' },
		{ "zone-shift", required_argument, NULL, 'z' },
		{ "list", no_argument, NULL, 'l' },
		{ "text", no_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "verify", no_argument, NULL, 'V' },
		{ "no-run-stats", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int c;

	/* "+": options first, OBJECT last, no permutation. daxmon-caps checks that the last argument
	 * is the daxmon.bpf.o next to it (docs/privileges.md); with GNU permutation an option's value
	 * could stand last while another word became the object. */
	while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		switch (c) {
		case 'e': {
			char *s = strdup(optarg), *tok, *save = NULL;

			for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
				add_hook(tok);
			break;
		}
		case 's':
			opt.strict = true;
			break;
		case 'r': {
			unsigned long mb = strtoul(optarg, NULL, 0);

			/* BPF_MAP_TYPE_RINGBUF: a power-of-2 multiple of the page size */
			if (!mb || mb > 4096 || (mb & (mb - 1))) {
				fprintf(stderr, "daxmon-loader: --ringbuf-mb must be a power of 2 (1..4096)\n");
				exit(2);
			}
			opt.ringbuf_mb = mb;
			break;
		}
		case 'p': {
			unsigned long long start, nr;
			char *colon = strchr(optarg, ':');

			if (!colon || opt.n_ranges == MAX_USER_RANGES) {
				fprintf(stderr, "daxmon-loader: --pgmap-range START:NR (pfns), at most %d\n",
					MAX_USER_RANGES);
				exit(2);
			}
			start = strtoull(optarg, NULL, 0);
			nr = strtoull(colon + 1, NULL, 0);
			if (!nr) {
				fprintf(stderr, "daxmon-loader: --pgmap-range %s: NR must be > 0\n", optarg);
				exit(2);
			}
			opt.ranges[opt.n_ranges].start_pfn = start;
			opt.ranges[opt.n_ranges].end_pfn = start + nr;
			opt.ranges[opt.n_ranges].pgmap = DAXMON_PGMAP_UNKNOWN;
			opt.n_ranges++;
			break;
		}
		case 'k':
			if (!strcmp(optarg, "none"))
				opt.stacks = DAXMON_STACKS_NONE;
			else if (!strcmp(optarg, "default"))
				opt.stacks = DAXMON_STACKS_DEFAULT;
			else if (!strcmp(optarg, "all"))
				opt.stacks = DAXMON_STACKS_ALL;
			else {
				fprintf(stderr, "daxmon-loader: --stacks none|default|all\n");
				exit(2);
			}
			break;
		case 'f':
			opt.flush_ms = strtoul(optarg, NULL, 0);
			if (!opt.flush_ms)
				opt.flush_ms = 1;
			break;
		case 'z':
			opt.zone_shift = atoi(optarg);
			break;
		case 'l':
			opt.list = true;
			break;
		case 't':
			opt.text = true;
			break;
		case 'v':
			opt.verbose = true;
			break;
		case 'N':
			opt.no_run_stats = true;
			break;
		case 'V':
			opt.verify = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		exit(2);
	}
	opt.object = argv[optind];
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *p;
	struct ring_buffer *rb = NULL;
	struct btf *btf;
	struct zone_layout zl = {};
	struct utsname u;
	struct sbuf b = {};
	struct sigaction sa = { .sa_handler = on_signal };
	unsigned int ring_bytes;
	int n_attached = 0, n_failed = 0, err;
	uint32_t sleep_bits = 0;
	uint64_t last_flush, last_counters, last_runs;

	parse_args(argc, argv);
	libbpf_set_print(libbpf_log);
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	if (opt.list) {
		obj = bpf_object__open_file(opt.object, NULL);
		if (!obj) {
			fprintf(stderr, "daxmon-loader: DAXMON_E_LOADER_OBJECT: cannot open %s: %s\n",
				opt.object, strerror(errno));
			return 1;
		}
		list_programs(obj);
		bpf_object__close(obj);
		return 0;
	}

	uname(&u);
	ring_bytes = opt.ringbuf_mb << 20;
	btf = btf__load_vmlinux_btf();
	sb_add(&b,
	       "{\"kind\":\"hello\",\"loader\":\"%s\",\"wire\":%d,\"record_size\":%zu,"
	       "\"libbpf\":\"%s\",\"kernel\":",
	       DAXMON_LOADER_VERSION, DAXMON_WIRE_VERSION, sizeof(struct daxmon_rec),
	       DAXMON_LIBBPF_VERSION);
	sb_str(&b, u.release);
	if (!btf) {
		sb_add(&b, ",\"btf\":false}");
		sb_emit(&b);
		out_error("DAXMON_E_LOADER_NO_BTF",
			  "no kernel BTF (/sys/kernel/btf/vmlinux): this kernel was built without "
			  "CONFIG_DEBUG_INFO_BTF; use the bpftrace backend");
		return 1;
	}
	ksyms_load();
	cfg.vmemmap_base_addr = vmemmap_base_addr;
	cfg.wakeup_bytes = ring_bytes / 4 < (1 << 20) ? ring_bytes / 4 : (1 << 20);
	cfg.stacks = opt.stacks;
	foll_values(btf, &cfg);
	if (zone_layout(btf, &zl)) {
		cfg.zone_shift = zl.shift;
		cfg.zone_mask = zl.mask;
		cfg.zone_device = zl.device;
	}
	sb_add(&b,
	       ",\"btf\":true,\"model\":\"%s\",\"vmemmap_base\":%s,\"zone\":{\"shift\":%d,"
	       "\"mask\":%d,\"device\":%d,\"from\":\"%s\"},\"foll\":{\"get\":%u,\"pin\":%u,"
	       "\"longterm\":%u},\"ringbuf_bytes\":%u,"
	       "\"wakeup_bytes\":%" PRIu64 ",\"stacks\":\"%s\",\"pid\":%d}",
	       btf_has_member(btf, "folio", "pgmap") ? "new" : "old",
	       vmemmap_base_addr ? "true" : "false", zl.shift, zl.mask, zl.device,
	       zl.how ? zl.how : "unknown", cfg.foll_get, cfg.foll_pin, cfg.foll_longterm, ring_bytes,
	       (uint64_t)cfg.wakeup_bytes,
	       opt.stacks == DAXMON_STACKS_NONE	 ? "none"
	       : opt.stacks == DAXMON_STACKS_ALL ? "all"
						 : "default",
	       getpid());
	sb_emit(&b);
	btf__free(btf);
	out_flush();

	/* the set to try: --enable, or every program with `all` */
	obj = bpf_object__open_file(opt.object, NULL);
	if (!obj) {
		out_error("DAXMON_E_LOADER_OBJECT", "cannot open %s: %s", opt.object, strerror(errno));
		return 1;
	}
	if (opt.enable_all) {
		bpf_object__for_each_program(p, obj) {
			char *name = strdup(bpf_program__name(p));

			if (!want_find(name))
				add_hook(name);
			free(name);
		}
	}
	for (int i = 0; i < opt.n_want; i++) {
		struct bpf_program *q = bpf_object__find_program_by_name(obj, opt.want[i].name);

		if (!q) {
			snprintf(opt.want[i].error, sizeof(opt.want[i].error),
				 "no such program in %s", opt.object);
			opt.want[i].loadable = false;
		} else {
			opt.want[i].loadable = true;
		}
	}
	bpf_object__close(obj);

	if (opt.verify) {
		/* each program alone: does it pass this kernel's verifier, and how hard was it */
		for (int i = 0; i < opt.n_want; i++) {
			struct want *w = &opt.want[i];
			struct sbuf v = {};

			if (w->loadable)
				check_one(w);
			sb_add(&v, "{\"kind\":\"verify\",\"program\":");
			sb_str(&v, w->name);
			sb_add(&v, ",\"loads\":%s,\"verified_insns\":%u,\"error\":",
			       w->loadable ? "true" : "false", w->verified_insns);
			if (w->loadable)
				sb_add(&v, "null");
			else
				sb_str(&v, w->error);
			sb_add(&v, "}");
			sb_emit(&v);
			out_flush();
		}
		return 0;
	}

	/*
	 * libbpf loads an object all or nothing and stops at the first program the kernel refuses,
	 * naming it in its log. Drop that program (reporting why) and load the rest again; after a
	 * few rounds, or if the log names no program, load each alone to find out (each program is
	 * then verified once, instead of once per round).
	 */
	for (int round = 0;; round++) {
		struct want *culprit = NULL;

		obj = open_configured(ring_bytes);
		clear_log();
		err = obj ? bpf_object__load(obj) : -errno;
		if (!err || stop)
			break;
		if (failed_prog[0])
			culprit = want_find(failed_prog);
		if (culprit && culprit->loadable && round < 3) {
			describe_failure(culprit->error, sizeof(culprit->error), "load", -err);
			culprit->loadable = false;
			bpf_object__close(obj);
			continue;
		}
		bpf_object__close(obj);
		for (int i = 0; i < opt.n_want; i++)
			if (opt.want[i].loadable)
				check_one(&opt.want[i]);
		obj = open_configured(ring_bytes);
		clear_log();
		err = obj ? bpf_object__load(obj) : -errno;
		break;
	}
	if (stop) {
		/* SIGTERM while loading: nothing attached yet, nothing to flush */
		bpf_object__close(obj);
		return 0;
	}
	if (err) {
		char why[1024];

		describe_failure(why, sizeof(why), "load", -err);
		out_error("DAXMON_E_LOADER_LOAD", "%s: %s", opt.object, why);
		return 1;
	}

	/* attach each hook with the first alternative whose programs all attach */
	for (int i = 0; i < opt.n_hooks; i++) {
		struct hook *h = &opt.hooks[i];

		for (int a = 0; a < h->n_alts && h->chosen < 0; a++) {
			struct alt *al = &h->alts[a];
			bool ok = true;

			for (int k = 0; k < al->n && ok; k++) {
				struct want *w = &opt.want[al->prog[k]];
				struct bpf_program *q = bpf_object__find_program_by_name(obj, w->name);

				if (w->link)
					continue;
				if (!q || !w->loadable) {
					ok = false;
					break;
				}
				clear_log();
				w->link = attach_one(q, w);
				if (!w->link) {
					describe_failure(w->error, sizeof(w->error), "attach", errno);
					ok = false;
				}
			}
			if (ok) {
				h->chosen = a;
				continue;
			}
			/* undo a partly attached alternative (e.g. the kprobe without its kretprobe) */
			for (int k = 0; k < al->n; k++) {
				struct want *w = &opt.want[al->prog[k]];
				bool used = false;

				for (int j = 0; j < i; j++)
					for (int k2 = 0; opt.hooks[j].chosen >= 0 &&
							 k2 < opt.hooks[j].alts[opt.hooks[j].chosen].n;
					     k2++)
						used |= opt.hooks[j].alts[opt.hooks[j].chosen].prog[k2] ==
							al->prog[k];
				if (w->link && !used) {
					bpf_link__destroy(w->link);
					w->link = NULL;
				}
			}
		}
		report_hook(obj, h);
		if (h->chosen >= 0)
			n_attached++;
		else
			n_failed++;
	}
	for (int i = 0; i < opt.n_want; i++) {
		struct want *w = &opt.want[i];

		w->attached = w->link != NULL;
		if (!w->attached)
			continue;
		{
			/* seen_* start at 0: misses before streaming started are reported too */
			struct bpf_program *q = bpf_object__find_program_by_name(obj, w->name);

			w->fd = q ? bpf_program__fd(q) : -1;
		}
		if (strstr(w->name, "__xfs_wait_dax_page"))
			sleep_bits |= 1U << DAXMON_FN_XFS_BREAK_DAX_LAYOUTS;
		if (strstr(w->name, "__ext4_wait_dax_page"))
			sleep_bits |= 1U << DAXMON_FN_EXT4_BREAK_LAYOUTS;
	}
	if (sleep_bits) {
		struct bpf_map *m = bpf_object__find_map_by_name(obj, ".data.state");
		uint32_t key = 0;

		if (!m || bpf_map__value_size(m) != sizeof(sleep_bits) ||
		    bpf_map_update_elem(bpf_map__fd(m), &key, &sleep_bits, BPF_ANY))
			fprintf(stderr, "daxmon-loader: cannot mark sleep probes live: %s\n",
				strerror(errno));
	}
	if (opt.strict && n_failed) {
		out_error("DAXMON_E_LOADER_STRICT", "%d of %d hooks could not be attached (--strict)",
			  n_failed, opt.n_hooks);
		return 1;
	}

	/* again: our own programs and trampolines are in kallsyms now, and get skipped in stacks */
	ksyms_load();
	stack_map_fd = bpf_object__find_map_fd_by_name(obj, "stacks");
	counters_fd = bpf_object__find_map_fd_by_name(obj, "counters");
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0)
		ncpus = 1;
	rb = ring_buffer__new(bpf_object__find_map_fd_by_name(obj, "events"), on_record, NULL, NULL);
	if (!rb) {
		out_error("DAXMON_E_LOADER_RINGBUF", "ring buffer: %s", strerror(errno));
		return 1;
	}
	sb_add(&b, "{\"kind\":\"ready\",\"attached\":%d,\"failed\":%d,\"probes\":{", n_attached,
	       n_failed);
	probe_summary(&b);
	sb_add(&b, "}}");
	sb_emit(&b);
	out_flush();

	/* run_cnt for misses per million runs; costs every BPF program on the host two clock reads per
	 * run while held (docs/kernel-model.md §11). recursion_misses is counted regardless. */
	if (!opt.no_run_stats) {
		run_stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		run_stats_on = run_stats_fd >= 0;
	}
	writer_start();
	last_flush = last_counters = last_runs = now_ms();
	while (!stop) {
		uint64_t t;

		/*
		 * Records are submitted with BPF_RB_NO_WAKEUP unless a batch is pending, so the poll
		 * mostly times out: consume on every turn (performance-notes.md).
		 */
		if (olen > OUT_MAX_BYTES) {
			/* stdout is this far behind: let the kernel count the drops instead */
			usleep(POLL_MS * 1000);
		} else {
			err = ring_buffer__poll(rb, POLL_MS);
			if (err < 0 && err != -EINTR) {
				out_error("DAXMON_E_LOADER_POLL", "ring buffer poll: %s", strerror(-err));
				return 1;
			}
			ring_buffer__consume(rb);
		}
		t = now_ms();
		if (t - last_counters >= COUNTER_POLL_MS) {
			bool runs = t - last_runs >= RUNS_REPORT_MS;

			poll_prog_stats(runs, false);
			if (runs)
				last_runs = t;
			poll_counters(false);
			last_counters = t;
		}
		if (olen >= OUT_FLUSH_BYTES || (olen && t - last_flush >= opt.flush_ms)) {
			poll_prog_stats(false, false);
			out_handoff();
			last_flush = t;
		} else if (!olen) {
			last_flush = t;
		}
	}
	ring_buffer__consume(rb);
	poll_prog_stats(true, true);
	poll_counters(true);
	out_flush();
	ring_buffer__free(rb);
	if (run_stats_fd >= 0)
		close(run_stats_fd);
	bpf_object__close(obj);
	return 0;
}
