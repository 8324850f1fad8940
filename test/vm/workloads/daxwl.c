// daxwl: the DAX workloads the VM tests run in the guest, one subcommand per scenario.
//
// Every step of a workload announces itself with prctl(DAXWL_PRCTL_PHASE, base + step): an option
// the kernel rejects with EINVAL, but which an observer sees on the sys_enter_prctl tracepoint at the
// exact moment the step starts. Observers attribute kernel events to steps with it, so the ground
// truth can say "the frees happen at munmap, not at truncate" rather than only "256 frees in total".
//
// The fault path is made deterministic. 4 KiB workloads set MADV_NOHUGEPAGE on their mapping: in the
// fault path the kernel offers every DAX VMA to ->huge_fault without checking that a PMD fits
// (__thp_vma_allowable_orders trusts the handler), and dax_iomap_pmd_fault then falls back, once per
// PMD slot that has no page table yet, which depends on what else the process mapped nearby.
// VM_NOHUGEPAGE stops the attempt (vma_thp_disabled, 6.1: hugepage_vma_check). The PMD workload maps
// a file created with ftruncate at a 2 MiB aligned address on a fresh filesystem whose allocator is
// told to align to 2 MiB.
//
// Output: progress on stderr, one line `DAXWL_RESULT {json}` on stdout.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DAXWL_PRCTL_PHASE 0x44415830L
#define DAXWL_PRCTL_DUMP 0x44415831L
#define PAGE 4096UL
#define PMD (2UL << 20)
#define PIN_PAGES 16

static long phase_base;
static char result[8192];
static size_t result_len;

static int phase_log = -1;

// The prctl is seen by tracers that probe sys_enter_prctl; daxmon does not, so each mark is also
// appended to $DAXWL_PHASE_LOG with its CLOCK_MONOTONIC time, the clock of daxmon's event `t`. The
// time is taken before the prctl: whatever the kernel does for this step comes after it.
static void mark(long step) {
  long phase = step ? phase_base + step : 0;
  if (phase_log >= 0) {
    struct timespec t;
    char line[64];
    clock_gettime(CLOCK_MONOTONIC, &t);
    int n = snprintf(line, sizeof line, "%ld %lld %d\n", phase,
                     (long long)t.tv_sec * 1000000000LL + t.tv_nsec, (int)getpid());
    if (n > 0 && write(phase_log, line, (size_t)n) != n) perror("daxwl: phase log");
  }
  prctl(DAXWL_PRCTL_PHASE, phase, 0, 0, 0);
}

static void die(const char *what) {
  fprintf(stderr, "daxwl: %s: %s\n", what, strerror(errno));
  printf("DAXWL_RESULT {\"ok\":false,\"error\":\"%s: %s\"}\n", what, strerror(errno));
  exit(1);
}

static void fact(const char *fmt, ...) {
  va_list ap;
  if (result_len > 0 && result_len < sizeof result - 1) result[result_len++] = ',';
  va_start(ap, fmt);
  int n = vsnprintf(result + result_len, sizeof result - result_len, fmt, ap);
  va_end(ap);
  if (n > 0) result_len += (size_t)n;
}

static void finish(void) {
  mark(0);
  printf("DAXWL_RESULT {\"ok\":true%s%s}\n", result_len ? "," : "", result);
  fflush(stdout);
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// A file whose blocks are allocated and written by write(2) before any mapping exists.
static int create_written(const char *path, size_t pages) {
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("open");
  static char buf[1 << 20];
  memset(buf, 0xab, sizeof buf);
  size_t left = pages * PAGE;
  while (left > 0) {
    size_t n = left < sizeof buf ? left : sizeof buf;
    ssize_t w = write(fd, buf, n);
    if (w <= 0) die("write");
    left -= (size_t)w;
  }
  return fd;
}

// A file that is all hole: the first write fault allocates.
static int create_sparse(const char *path, size_t pages) {
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("open");
  if (ftruncate(fd, (off_t)(pages * PAGE))) die("ftruncate");
  return fd;
}

// mmap at a 2 MiB aligned address, so a PMD fault is possible wherever the file allows one.
static char *map_aligned(int fd, size_t len, int prot, int flags) {
  char *r = mmap(NULL, len + PMD, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (r == MAP_FAILED) die("mmap reserve");
  uintptr_t a = ((uintptr_t)r + PMD - 1) & ~(PMD - 1);
  munmap(r, len + PMD);
  char *p = mmap((void *)a, len, prot, flags | MAP_FIXED, fd, 0);
  if (p == MAP_FAILED) die("mmap");
  return p;
}

// A mapping that only ever takes 4 KiB faults (see the top of this file).
static char *map_small(int fd, size_t len, int prot, int flags) {
  char *p = map_aligned(fd, len, prot, flags);
  if (madvise(p, len, MADV_NOHUGEPAGE)) die("madvise(MADV_NOHUGEPAGE)");
  return p;
}

static void touch_write(char *p, size_t from, size_t to) {
  for (size_t i = from; i < to; i++) ((volatile char *)p)[i * PAGE] = (char)i;
}

static unsigned long touch_read(const char *p, size_t from, size_t to) {
  unsigned long sum = 0;
  for (size_t i = from; i < to; i++) sum += ((const volatile char *)p)[i * PAGE];
  return sum;
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

static int sysfs_write(const char *path, const char *value) {
  int fd = open(path, O_WRONLY);
  if (fd < 0) return -errno;
  ssize_t w = write(fd, value, strlen(value));
  int rc = w < 0 ? -errno : 0;
  close(fd);
  return rc;
}

// 4 KiB faults on a 1 MiB file written with write(2): 256 write faults by the owner, 256 read faults
// by a forked child (fork does not copy the PTEs of a shared file mapping, so the child faults).
static int wl_pte_fault(const char *path) {
  const size_t n = 256;
  int fd = create_written(path, n);
  char *p = map_small(fd, n * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED);
  mark(1);
  touch_write(p, 0, n);
  mark(2);
  pid_t c = fork();
  if (c == 0) {
    touch_read(p, 0, n);
    _exit(0);
  }
  int st;
  waitpid(c, &st, 0);
  mark(3);
  munmap(p, n * PAGE);
  close(fd);
  fact("\"pages\":%zu", n);
  finish();
  return 0;
}

// 2 MiB faults: a 4 MiB file created with ftruncate on a fresh, 2 MiB aligned filesystem.
static int wl_pmd_fault(const char *path) {
  const size_t n = 1024;
  int fd = create_sparse(path, n);
  char *p = map_aligned(fd, n * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED);
  mark(1);
  touch_write(p, 0, n);
  mark(2);
  munmap(p, n * PAGE);
  p = map_aligned(fd, n * PAGE, PROT_READ, MAP_SHARED);
  mark(3);
  touch_read(p, 0, n);
  mark(4);
  munmap(p, n * PAGE);
  close(fd);
  fact("\"pages\":%zu", n);
  finish();
  return 0;
}

// truncate(2) of a file that is still mapped: the truncate unmaps the pages itself.
static int wl_truncate(const char *path) {
  const size_t n = 256;
  int fd = create_written(path, n);
  char *p = map_small(fd, n * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED);
  mark(1);
  touch_write(p, 0, n);
  mark(2);
  if (ftruncate(fd, 0)) die("ftruncate");
  mark(3);
  munmap(p, n * PAGE);
  close(fd);
  finish();
  return 0;
}

// A hole punched in the middle of a mapped file, then read back through the mapping (hole faults).
static int wl_hole_punch(const char *path) {
  const size_t n = 384, from = 128, len = 128;
  int fd = create_written(path, n);
  char *p = map_small(fd, n * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED);
  mark(1);
  touch_write(p, 0, n);
  mark(2);
  if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(from * PAGE), (off_t)(len * PAGE)))
    die("fallocate punch");
  mark(3);
  unsigned long sum = touch_read(p, from, from + len);
  mark(4);
  munmap(p, n * PAGE);
  close(fd);
  fact("\"hole_sum\":%lu", sum);
  finish();
  return 0;
}

// msync/fsync writeback: writeback write-protects the PTEs, so the second round of stores faults again.
static int wl_msync(const char *path) {
  const size_t n = 256;
  int fd = create_sparse(path, n);
  char *p = map_small(fd, n * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED);
  mark(1);
  touch_write(p, 0, n);
  mark(2);
  if (msync(p, n * PAGE, MS_SYNC)) die("msync");
  mark(3);
  touch_write(p, 0, n);
  mark(4);
  if (fsync(fd)) die("fsync");
  mark(5);
  munmap(p, n * PAGE);
  close(fd);
  finish();
  return 0;
}

// MAP_PRIVATE: a first write copies in the fault handler (no pmem page is mapped); a read maps the
// pmem page read-only and a later write replaces it with an anonymous copy.
static int wl_cow(const char *path) {
  const size_t n = 256, half = 128;
  int fd = create_written(path, n);
  char *p = map_small(fd, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
  mark(1);
  touch_write(p, 0, half);
  mark(2);
  touch_read(p, half, n);
  mark(3);
  touch_write(p, half, n);
  mark(4);
  munmap(p, n * PAGE);
  close(fd);
  finish();
  return 0;
}

// O_DIRECT to a block device from and into a DAX-mapped buffer: the block layer pins the DAX pages
// with GUP for the duration of each I/O.
static int wl_odirect(const char *path, const char *dev) {
  const size_t n = 64;
  int fd = create_written(path, n);
  char *p = map_small(fd, n * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED);
  int bd = open(dev, O_RDWR | O_DIRECT);
  if (bd < 0) die("open O_DIRECT device");
  mark(1);
  touch_write(p, 0, n);
  mark(2);
  ssize_t w = pwrite(bd, p, n * PAGE, 0);
  if (w != (ssize_t)(n * PAGE)) die("O_DIRECT write");
  mark(3);
  ssize_t r = pread(bd, p, n * PAGE, 0);
  if (r != (ssize_t)(n * PAGE)) die("O_DIRECT read");
  mark(4);
  munmap(p, n * PAGE);
  close(bd);
  close(fd);
  fact("\"dio_bytes\":%zd", w + r);
  finish();
  return 0;
}

// 16 pages pinned by vmsplice into a pipe, then the file is truncated by a child. With `mapped`, the
// owner keeps its mapping during the truncate; without, it unmaps first (docs/kernel-model.md V8: old
// kernels skip pinned pages once the file is no longer mapped).
static int wl_pin_truncate(const char *path, int mapped) {
  const size_t n = 256;
  int fd = create_written(path, n);
  char *p = map_small(fd, n * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED);
  int pfd[2];
  mark(1);
  touch_write(p, 0, n);
  mark(2);
  int pinned = pin_into_pipe(p, PIN_PAGES, pfd);
  if (!mapped) {
    mark(3);
    munmap(p, n * PAGE);
  }
  mark(4);
  double t0 = now_ms();
  int done[2];
  if (pipe(done)) die("pipe");
  pid_t c = fork();
  if (c == 0) {
    int rc = truncate(path, 0);
    double t = now_ms();
    if (write(done[1], &t, sizeof t) < 0) _exit(2);
    _exit(rc ? 1 : 0);
  }
  close(done[1]);
  // Give a truncate that does not wait plenty of time to finish under emulation.
  sleep(2);
  int st;
  int blocked = waitpid(c, &st, WNOHANG) == 0;
  mark(5);
  double t_drain = now_ms();
  size_t got = drain(pfd[0], (size_t)pinned);
  waitpid(c, &st, 0);
  double t_trunc = 0;
  if (read(done[0], &t_trunc, sizeof t_trunc) != sizeof t_trunc) t_trunc = 0;
  if (mapped) {
    mark(6);
    munmap(p, n * PAGE);
  }
  close(fd);
  fact("\"pinned_bytes\":%d,\"drained_bytes\":%zu", pinned, got);
  fact("\"truncate_blocked\":%s,\"truncate_rc\":%d", blocked ? "true" : "false",
       WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  fact("\"truncate_done_after_drain_ms\":%.1f,\"truncate_total_ms\":%.1f", t_trunc - t_drain, t_trunc - t0);
  finish();
  return 0;
}

// Unbind the driver under a live DAX mapping with pinned pages: the pgmap is torn down while its
// folios are mapped (memunmap_pages waits only for pgmap->ref, which FS DAX folios never hold). The
// process then holds everything until it is killed, so the teardown's effects can be read first.
static _Noreturn void wl_unbind(const char *path, const char *unbind, const char *devname, int is_chardev) {
  const size_t n = is_chardev ? 16384 : 256; // devdax: 64 MiB of 2 MiB pages
  int fd = is_chardev ? open(path, O_RDWR) : create_written(path, n);
  if (fd < 0) die("open");
  char *p = is_chardev ? map_aligned(fd, n * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED)
                       : map_small(fd, n * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED);
  int pfd[2];
  mark(1);
  touch_write(p, 0, n);
  mark(2);
  int pinned = pin_into_pipe(p, PIN_PAGES, pfd);
  mark(3);
  double t0 = now_ms();
  int rc = sysfs_write(unbind, devname);
  double ms = now_ms() - t0;
  fact("\"pages_mapped\":%zu,\"pinned_bytes\":%d,\"unbind_rc\":%d,\"unbind_ms\":%.1f", n, pinned, rc, ms);
  finish();
  fclose(stdout);
  for (;;) pause();
}

// device-dax: a 64 MiB mapping of /dev/daxX.Y (2 MiB alignment, so 32 PMD faults).
static int wl_devdax(const char *dev) {
  const size_t n = 16384;
  int fd = open(dev, O_RDWR);
  if (fd < 0) die("open devdax");
  char *p = map_aligned(fd, n * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED);
  mark(1);
  touch_write(p, 0, n);
  mark(2);
  munmap(p, n * PAGE);
  close(fd);
  fact("\"pages\":%zu", n);
  finish();
  return 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: daxwl PHASE_BASE pte-fault|pmd-fault|truncate|hole-punch|msync|cow FILE\n"
          "       daxwl PHASE_BASE odirect FILE BLOCKDEV\n"
          "       daxwl PHASE_BASE pin-truncate FILE mapped|unmapped\n"
          "       daxwl PHASE_BASE unbind FILE|CHARDEV UNBIND_PATH DEVNAME file|chardev\n"
          "       daxwl PHASE_BASE devdax CHARDEV\n"
          "       daxwl PHASE mark | daxwl 0 dump\n");
  exit(2);
}

int main(int argc, char **argv) {
  if (argc < 3) usage();
  phase_base = strtol(argv[1], NULL, 10);
  const char *cmd = argv[2];
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *log = getenv("DAXWL_PHASE_LOG");
  if (log && *log) phase_log = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (!strcmp(cmd, "mark")) {
    phase_base = 0;
    mark(strtol(argv[1], NULL, 10));
    return 0;
  }
  if (!strcmp(cmd, "dump")) return prctl(DAXWL_PRCTL_DUMP, 0, 0, 0, 0) == -1 ? 0 : 0;
  if (argc < 4) usage();
  const char *a = argv[3];
  if (!strcmp(cmd, "pte-fault")) return wl_pte_fault(a);
  if (!strcmp(cmd, "pmd-fault")) return wl_pmd_fault(a);
  if (!strcmp(cmd, "truncate")) return wl_truncate(a);
  if (!strcmp(cmd, "hole-punch")) return wl_hole_punch(a);
  if (!strcmp(cmd, "msync")) return wl_msync(a);
  if (!strcmp(cmd, "cow")) return wl_cow(a);
  if (!strcmp(cmd, "devdax")) return wl_devdax(a);
  if (!strcmp(cmd, "odirect") && argc >= 5) return wl_odirect(a, argv[4]);
  if (!strcmp(cmd, "pin-truncate") && argc >= 5) return wl_pin_truncate(a, !strcmp(argv[4], "mapped"));
  if (!strcmp(cmd, "unbind") && argc >= 7) wl_unbind(a, argv[4], argv[5], !strcmp(argv[6], "chardev"));
  usage();
  return 2;
}
