// viowl: operator-caused DAX refcount violations for the violations VM test (violations.vm.test.ts).
//
// Unlike daxwl's scenarios, whose steps run on fixed timers, these hold the kernel in the bad state
// until the job says so, because daxmon must be asked about the state while it lasts:
//   pin-truncate FILE GO_FILE   16 pages of a mapped file pinned by vmsplice into a pipe nobody reads;
//                               a child truncates the file (it waits for the pinned pages); the pipe
//                               is drained only once GO_FILE exists. The mapping stays in place:
//                               old kernels skip pinned pages of an unmapped file (kernel-model V8).
//   uring-register FILE         io_uring buffer registration (a FOLL_LONGTERM pin) of a DAX mapping,
//                               which the kernel must refuse with EOPNOTSUPP (V11).
//   healthy FILE                a short healthy stream for the recorded fixtures: 4 KiB faults, a
//                               forked reader, a PMD fault, a vmsplice pin drained, munmap, truncate.
//   zero-map FILE DIR           with the fault-injection module (daxfi): page 0 of FILE is faulted
//                               and unmapped, its pfn printed; once DIR/go1 exists (the job dropped
//                               the page's idle reference) it is faulted in again: a map at refcount 0.
//   pin-put FILE DIR            page 0 pinned by vmsplice, pfn printed; once DIR/go1 exists (the job
//                               dropped a reference) the pipe is drained: a put below the idle 1. The
//                               file is then unmapped and truncated, leaving the page at 0, off idle.
//   map-put FILE DIR            new model: page 0 faulted (refcount 1), pfn printed; once DIR/go1 exists
//                               (the job dropped the mapping's reference) the file is unmapped: the
//                               zap's put leaves the page at -1. Truncated only after DIR/go2 (the
//                               job restored it to 0), since truncate waits for an idle 0.
//   free-mapped FILE DIR        new model: page 0 faulted (refcount 1) and vmspliced into a pipe (2),
//                               pfn printed; once DIR/go1 exists (the job dropped one reference) the
//                               pipe is drained: its put takes the page to 0 while it is still mapped,
//                               and free_zone_device_folio runs. After DIR/go2 (the job restored the
//                               mapping's reference) the file is unmapped and truncated.
//   tail-get FILE DIR           new model: a 2 MiB file mapped 2 MiB aligned and faulted once (one PMD
//                               folio); the pfn of its first tail page printed; the job takes a
//                               reference on that tail (tails must stay at 0); after DIR/go2 (the job
//                               dropped it again) the file is unmapped and truncated.
//   All wait for DIR/go2 (the job read daxmon and restored the reference) before exiting.
//
// Progress lines `VIOWL <what> <uptime ms>` on stdout (line-buffered), one `DAXWL_RESULT {json}` last.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define PMD (2UL << 20)
#define PIN_PAGES 16

static void die(const char *what) {
  printf("DAXWL_RESULT {\"ok\":false,\"error\":\"%s: %s\"}\n", what, strerror(errno));
  exit(1);
}

static double uptime_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void progress(const char *what) { printf("VIOWL %s %.0f\n", what, uptime_ms()); }

static int create_written(const char *path, size_t pages) {
  static char buf[PAGE];
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("open");
  memset(buf, 0x5a, sizeof buf);
  for (size_t i = 0; i < pages; i++)
    if (write(fd, buf, PAGE) != (ssize_t)PAGE) die("write");
  if (fsync(fd)) die("fsync");
  return fd;
}

static char *map_pages(int fd, size_t pages) {
  char *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) die("mmap");
  // 4 KiB faults only (see daxwl.c: the PMD attempt depends on the neighbourhood otherwise).
  madvise(p, pages * PAGE, MADV_NOHUGEPAGE);
  return p;
}

static void touch(char *p, size_t pages) {
  for (size_t i = 0; i < pages; i++) ((volatile char *)p)[i * PAGE] = (char)i;
}

static int pin_into_pipe(char *p, size_t pages, int pfd[2]) {
  if (pipe(pfd)) die("pipe");
  fcntl(pfd[1], F_SETPIPE_SZ, 1 << 20);
  struct iovec iov = {p, pages * PAGE};
  ssize_t n = vmsplice(pfd[1], &iov, 1, 0);
  if (n != (ssize_t)(pages * PAGE)) die("vmsplice");
  return (int)n;
}

static size_t drain(int fd, size_t bytes) {
  static char buf[1 << 16];
  size_t got = 0;
  while (got < bytes) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r <= 0) break;
    got += (size_t)r;
  }
  return got;
}

static int wl_pin_truncate(const char *path, const char *go) {
  const size_t n = 256;
  int fd = create_written(path, n);
  char *p = map_pages(fd, n);
  touch(p, n);
  int pfd[2];
  int pinned = pin_into_pipe(p, PIN_PAGES, pfd);
  progress("pinned");
  double t0 = uptime_ms();
  pid_t c = fork();
  if (c < 0) die("fork");
  if (c == 0) _exit(truncate(path, 0) ? 1 : 0);
  progress("truncate_started");
  sleep(1);
  int st = 0;
  int blocked = waitpid(c, &st, WNOHANG) == 0;
  progress(blocked ? "truncate_blocked" : "truncate_not_blocked");
  // Wait (at most 10 min) for the job to have read daxmon's view of the stuck truncate.
  for (int i = 0; i < 6000 && access(go, F_OK) != 0; i++) usleep(100 * 1000);
  double t_drain = uptime_ms();
  progress("draining");
  size_t got = drain(pfd[0], (size_t)pinned);
  if (blocked) waitpid(c, &st, 0);
  double t_done = uptime_ms();
  progress("truncate_done");
  munmap(p, n * PAGE);
  close(fd);
  printf("DAXWL_RESULT {\"ok\":true,\"pinned_bytes\":%d,\"drained_bytes\":%zu,\"truncate_blocked\":%s,"
         "\"truncate_rc\":%d,\"truncate_start_uptime_ms\":%.0f,\"drain_uptime_ms\":%.0f,"
         "\"truncate_done_uptime_ms\":%.0f,\"truncate_done_after_drain_ms\":%.1f}\n",
         pinned, got, blocked ? "true" : "false", WIFEXITED(st) ? WEXITSTATUS(st) : -1, t0, t_drain, t_done,
         t_done - t_drain);
  return 0;
}

static int wl_uring_register(const char *path) {
  const size_t n = 64;
  int fd = create_written(path, n);
  char *p = map_pages(fd, n);
  touch(p, n);
  struct io_uring_params params;
  memset(&params, 0, sizeof params);
  int ring = (int)syscall(__NR_io_uring_setup, 4, &params);
  if (ring < 0) {
    printf("DAXWL_RESULT {\"ok\":false,\"error\":\"io_uring_setup: %s\"}\n", strerror(errno));
    return 1;
  }
  struct iovec iov = {p, n * PAGE};
  progress("registering");
  long rc = syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, &iov, 1);
  int err = rc < 0 ? errno : 0;
  progress("registered");
  close(ring);
  munmap(p, n * PAGE);
  close(fd);
  printf("DAXWL_RESULT {\"ok\":true,\"register_rc\":%ld,\"register_errno\":\"%s\"}\n", rc,
         err == EOPNOTSUPP ? "EOPNOTSUPP" : err ? strerror(err) : "");
  return 0;
}

// The first 2 MiB of fd mapped shared at a 2 MiB-aligned address inside a 6 MiB reservation
// (*raw, to munmap) and written once: one PMD fault (see daxwl.c wl_pmd_fault).
static char *map_pmd(int fd, char **raw) {
  *raw = mmap(NULL, 3 * PMD, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (*raw == MAP_FAILED) die("mmap reserve");
  char *al = (char *)(((uintptr_t)*raw + PMD - 1) & ~(PMD - 1));
  char *q = mmap(al, PMD, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
  if (q == MAP_FAILED) die("mmap pmd");
  ((volatile char *)q)[0] = 1;
  return q;
}

static int wl_healthy(const char *path) {
  const size_t n = 32;
  int fd = create_written(path, n);
  char *p = map_pages(fd, n);
  touch(p, n);
  pid_t c = fork();
  if (c == 0) {
    unsigned long sum = 0;
    for (size_t i = 0; i < n; i++) sum += ((volatile char *)p)[i * PAGE];
    _exit(sum == 0xffffffff);
  }
  waitpid(c, NULL, 0);
  int pfd[2];
  int pinned = pin_into_pipe(p, 4, pfd);
  drain(pfd[0], (size_t)pinned);
  munmap(p, n * PAGE);
  if (ftruncate(fd, 0)) die("ftruncate");
  close(fd);

  // One PMD fault: a 4 MiB file made by ftruncate, mapped 2 MiB aligned (see daxwl.c wl_pmd_fault).
  char pmd_path[4096];
  snprintf(pmd_path, sizeof pmd_path, "%s.pmd", path);
  int pf = open(pmd_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (pf < 0 || ftruncate(pf, 2 * PMD)) die("pmd file");
  char *raw;
  map_pmd(pf, &raw);
  munmap(raw, 3 * PMD);
  if (ftruncate(pf, 0)) die("ftruncate pmd");
  close(pf);
  printf("DAXWL_RESULT {\"ok\":true,\"pages\":%zu,\"pinned_bytes\":%d}\n", n, pinned);
  return 0;
}

static void wait_for(const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  for (int i = 0; i < 6000 && access(path, F_OK) != 0; i++) usleep(100 * 1000);
}

// The pfn behind a mapped address, from /proc/self/pagemap (root: bits 0-54 are the pfn).
static uint64_t pfn_of(const void *addr) {
  int fd = open("/proc/self/pagemap", O_RDONLY);
  if (fd < 0) die("open pagemap");
  uint64_t e = 0;
  if (pread(fd, &e, sizeof e, (off_t)((uintptr_t)addr / PAGE * sizeof e)) != sizeof e) die("pread pagemap");
  close(fd);
  if (!(e & (1ULL << 63))) die("page not present");
  return e & ((1ULL << 55) - 1);
}

static int wl_zero_map(const char *path, const char *dir) {
  const size_t n = 16;
  int fd = create_written(path, n);
  char *p = map_pages(fd, n);
  touch(p, 1);
  uint64_t pfn = pfn_of(p);
  munmap(p, n * PAGE);
  printf("VIOWL pfn %llu\n", (unsigned long long)pfn);
  wait_for(dir, "go1");
  p = map_pages(fd, n);
  touch(p, 1);
  uint64_t again = pfn_of(p);
  progress("remapped");
  wait_for(dir, "go2");
  munmap(p, n * PAGE);
  close(fd);
  printf("DAXWL_RESULT {\"ok\":true,\"pfn\":%llu,\"same_pfn\":%s}\n", (unsigned long long)pfn,
         again == pfn ? "true" : "false");
  return 0;
}

// Page 0 vmspliced into a pipe after `touched` pages were written, its pfn printed; after DIR/go1
// the pipe is drained. pin-put then unmaps and truncates before DIR/go2, free-mapped after it
// (the job restores the mapping's reference first).
static int pin_drain(const char *path, const char *dir, size_t touched, int unmap_after_go2) {
  const size_t n = 16;
  int fd = create_written(path, n);
  char *p = map_pages(fd, n);
  touch(p, touched);
  uint64_t pfn = pfn_of(p);
  int pfd[2];
  int pinned = pin_into_pipe(p, 1, pfd);
  printf("VIOWL pfn %llu\n", (unsigned long long)pfn);
  wait_for(dir, "go1");
  size_t got = drain(pfd[0], (size_t)pinned);
  progress("drained");
  if (unmap_after_go2) wait_for(dir, "go2");
  munmap(p, n * PAGE);
  int rc = ftruncate(fd, 0);
  if (!unmap_after_go2) {
    progress("truncated");
    wait_for(dir, "go2");
  }
  close(fd);
  printf("DAXWL_RESULT {\"ok\":true,\"pfn\":%llu,\"drained_bytes\":%zu,\"truncate_rc\":%d}\n",
         (unsigned long long)pfn, got, rc);
  return 0;
}

static int wl_map_put(const char *path, const char *dir) {
  const size_t n = 16;
  int fd = create_written(path, n);
  char *p = map_pages(fd, n);
  touch(p, 1);
  uint64_t pfn = pfn_of(p);
  printf("VIOWL pfn %llu\n", (unsigned long long)pfn);
  wait_for(dir, "go1");
  munmap(p, n * PAGE);
  progress("unmapped");
  wait_for(dir, "go2");
  int rc = ftruncate(fd, 0);
  close(fd);
  printf("DAXWL_RESULT {\"ok\":true,\"pfn\":%llu,\"truncate_rc\":%d}\n", (unsigned long long)pfn, rc);
  return 0;
}

static int wl_tail_get(const char *path, const char *dir) {
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || ftruncate(fd, 2 * PMD)) die("pmd file");
  char *raw;
  char *q = map_pmd(fd, &raw);
  uint64_t head = pfn_of(q), tail = pfn_of(q + PAGE);
  if (tail != head + 1 || head % 512 != 0) {
    printf("DAXWL_RESULT {\"ok\":false,\"error\":\"no PMD folio: head %llu, next %llu\"}\n",
           (unsigned long long)head, (unsigned long long)tail);
    return 1;
  }
  printf("VIOWL pfn %llu\n", (unsigned long long)tail);
  wait_for(dir, "go1");
  progress("tail-held");
  wait_for(dir, "go2");
  munmap(raw, 3 * PMD);
  int rc = ftruncate(fd, 0);
  close(fd);
  printf("DAXWL_RESULT {\"ok\":true,\"head\":%llu,\"truncate_rc\":%d}\n", (unsigned long long)head, rc);
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc >= 4 && !strcmp(argv[1], "pin-truncate")) return wl_pin_truncate(argv[2], argv[3]);
  if (argc >= 3 && !strcmp(argv[1], "uring-register")) return wl_uring_register(argv[2]);
  if (argc >= 3 && !strcmp(argv[1], "healthy")) return wl_healthy(argv[2]);
  if (argc >= 4 && !strcmp(argv[1], "zero-map")) return wl_zero_map(argv[2], argv[3]);
  if (argc >= 4 && !strcmp(argv[1], "pin-put")) return pin_drain(argv[2], argv[3], 16, 0);
  if (argc >= 4 && !strcmp(argv[1], "map-put")) return wl_map_put(argv[2], argv[3]);
  if (argc >= 4 && !strcmp(argv[1], "free-mapped")) return pin_drain(argv[2], argv[3], 1, 1);
  if (argc >= 4 && !strcmp(argv[1], "tail-get")) return wl_tail_get(argv[2], argv[3]);
  fprintf(stderr, "usage: viowl pin-truncate FILE GO_FILE | uring-register FILE | healthy FILE | zero-map|pin-put|map-put|free-mapped|tail-get FILE DIR\n");
  return 2;
}
