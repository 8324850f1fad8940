// scanwl: the workload of the struct-page scan VM test (test/vm/scan.vm.test.ts).
//
// Steps are driven by lines on stdin so the test can scan the pmem between them:
//   start  -> writes FILE (PAGES pages, write(2)), maps it shared, writes every page,
//             prints "MAPPED pfn0 pfn1 ..." (from /proc/self/pagemap; needs root)
//   line 1 -> vmsplice()s the first PIN pages into a pipe (GUP: one reference per page), "PINNED"
//   line 2 -> drains the pipe (the references are dropped), "DRAINED"
//   line 3 -> munmap, close, "UNMAPPED"; line 4 / EOF -> exit
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#define PAGE 4096UL

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void step(const char *name) {
  char line[64];
  printf("%s\n", name);
  fflush(stdout);
  if (!fgets(line, sizeof line, stdin)) exit(0);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: scanwl FILE PAGES PIN\n");
    return 2;
  }
  size_t n = strtoul(argv[2], NULL, 10), pin = strtoul(argv[3], NULL, 10);
  int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("open");
  static char buf[PAGE];
  for (size_t i = 0; i < n; i++) {
    memset(buf, (int)i, sizeof buf);
    if (write(fd, buf, PAGE) != (ssize_t)PAGE) die("write");
  }
  fsync(fd);
  char *p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) die("mmap");
  madvise(p, n * PAGE, MADV_NOHUGEPAGE);
  for (size_t i = 0; i < n; i++) p[i * PAGE] = (char)(i + 1);
  int pm = open("/proc/self/pagemap", O_RDONLY);
  if (pm < 0) die("pagemap");
  printf("MAPPED");
  for (size_t i = 0; i < n; i++) {
    uint64_t e = 0;
    if (pread(pm, &e, 8, (off_t)(((uintptr_t)p / PAGE + i) * 8)) != 8) die("pread pagemap");
    printf(" %llu", (unsigned long long)(e & ((1ULL << 55) - 1)));
  }
  printf("\n");
  step("READY");
  int pfd[2];
  if (pipe(pfd)) die("pipe");
  fcntl(pfd[1], F_SETPIPE_SZ, 1 << 20);
  struct iovec iov = {p, pin * PAGE};
  if (vmsplice(pfd[1], &iov, 1, 0) != (ssize_t)(pin * PAGE)) die("vmsplice");
  step("PINNED");
  size_t got = 0;
  while (got < pin * PAGE) {
    ssize_t r = read(pfd[0], buf, sizeof buf);
    if (r <= 0) die("read pipe");
    got += (size_t)r;
  }
  step("DRAINED");
  munmap(p, n * PAGE);
  close(fd);
  step("UNMAPPED");
  return 0;
}
