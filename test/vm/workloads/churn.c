// Issue 11's concurrent workload, re-created from its description: N processes for S seconds,
// each looping over its own few files on the DAX mount: create (O_TRUNC) a file of 16, 64 or 512
// pages (half written with write(2), half sparse from ftruncate, so 2 MiB files can take PMD
// faults), map it shared, touch a random prefix, then either truncate it to 0 while still mapped
// (30%) or unmap and then truncate. Seeded (printed) so a run can be repeated.
// usage: churn DIR PROCS SECONDS SEED      prints one JSON line per process and a total.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int child(const char *dir, int id, double seconds, unsigned seed) {
  static const size_t sizes[] = {16, 64, 512};
  static char buf[512 * 4096];
  char path[512];
  unsigned long iters = 0, mapped_truncs = 0, touched = 0;
  double end = now_s() + seconds;
  srandom(seed * 7919u + id);
  memset(buf, 0x5a, sizeof(buf));
  while (now_s() < end) {
    snprintf(path, sizeof(path), "%s/churn-%d-%ld", dir, id, random() % 3);
    size_t n = sizes[random() % 3];
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return perror("open"), 1;
    if (random() & 1) {
      if (write(fd, buf, n * PAGE) != (ssize_t)(n * PAGE)) return perror("write"), 1;
    } else if (ftruncate(fd, n * PAGE)) {
      return perror("ftruncate"), 1;
    }
    char *p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return perror("mmap"), 1;
    size_t k = 1 + random() % n;
    for (size_t i = 0; i < k; i++) p[i * PAGE] = (char)i;
    touched += k;
    if (random() % 10 < 3) {
      if (ftruncate(fd, 0)) return perror("ftruncate 0"), 1;
      munmap(p, n * PAGE);
      mapped_truncs++;
    } else {
      munmap(p, n * PAGE);
      if (ftruncate(fd, 0)) return perror("ftruncate 0"), 1;
    }
    close(fd);
    iters++;
  }
  printf("{\"proc\":%d,\"iterations\":%lu,\"truncated_while_mapped\":%lu,\"pages_touched\":%lu}\n", id, iters,
         mapped_truncs, touched);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: churn DIR PROCS SECONDS SEED\n");
    return 2;
  }
  int procs = atoi(argv[2]);
  double seconds = atof(argv[3]);
  unsigned seed = (unsigned)strtoul(argv[4], NULL, 0);
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("{\"seed\":%u,\"procs\":%d,\"seconds\":%g}\n", seed, procs, seconds);
  for (int i = 0; i < procs; i++)
    if (fork() == 0) _exit(child(argv[1], i, seconds, seed));
  int bad = 0, st;
  while (wait(&st) > 0)
    if (!WIFEXITED(st) || WEXITSTATUS(st)) bad++;
  printf("{\"failed_procs\":%d}\n", bad);
  return bad ? 1 : 0;
}
