/*
 * churn: the tests' and benchmarks' workload. T threads each run P malloc/free pairs of 16 B to
 * 2 KiB (or a realloc- or calloc-heavy variant), and the program leaks exactly N blocks of S bytes
 * from leak_blocks() and K toykey contexts from forget_key_destroy().
 *
 * usage: churn [-t threads] [-p pairs-per-thread] [-n leak-count] [-s leak-size] [-k key-leaks]
 *              [-m malloc|realloc|calloc] [-f]   (-f: fork a child that churns and leaks too)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "demo/toykey.h"

static long pairs = 1000000;
static int threads = 2;
static long leak_count = 0;
static long leak_size = 0;
static long key_leaks = 0;
static char mode = 'm';
static volatile uintptr_t sink;

__attribute__((noinline)) static void leak_blocks(long n, long size) {
  for (long i = 0; i < n; i++) {
    char *p = malloc((size_t)size);
    memset(p, 1, (size_t)size);
    sink += (uintptr_t)p; /* the pointer escapes, so the allocation cannot be elided */
  }
}

__attribute__((noinline)) static void forget_key_destroy(long n) {
  for (long i = 0; i < n; i++) sink += toy_key_checksum(toy_derive_key("secret", 6));
}

static void *worker(void *arg) {
  uint64_t s = 0x2545F4914F6CDD1Dull * (uint64_t)(uintptr_t)arg + 1;
  void *slots[64] = {0};
  for (long i = 0; i < pairs; i++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    size_t size = 16 + (size_t)(s % 2033);
    unsigned slot = (unsigned)(s >> 40) & 63;
    void *p;
    if (mode == 'c') {
      p = calloc(1, size);
    } else if (mode == 'r') {
      p = malloc(size / 2 + 1);
      p = realloc(p, size);
    } else {
      p = malloc(size);
    }
    ((volatile char *)p)[0] = 1;
    free(slots[slot]); /* keeps up to 64 blocks live per thread, frees in shuffled order */
    slots[slot] = p;
  }
  for (int i = 0; i < 64; i++) free(slots[i]);
  return NULL;
}

static void churn(void) {
  pthread_t t[64];
  struct timespec a, b, cpu_a, cpu_b;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu_a);
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &b);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu_b);
  /* The benchmark reads this: the churn's own time, without process start-up, and the CPU time its
   * threads got meanwhile (threads x seconds - cpu: how long they were runnable or waiting but not
   * running, which the VM's speed does not move). */
  fprintf(stderr, "churn: threads=%d pairs=%ld mode=%c seconds=%.6f cpu=%.6f\n", threads, pairs * threads, mode,
          (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9,
          (double)(cpu_b.tv_sec - cpu_a.tv_sec) + (double)(cpu_b.tv_nsec - cpu_a.tv_nsec) / 1e9);
}

int main(int argc, char **argv) {
  int do_fork = 0, opt;
  while ((opt = getopt(argc, argv, "t:p:n:s:k:m:f")) != -1) {
    switch (opt) {
      case 't': threads = atoi(optarg); break;
      case 'p': pairs = atol(optarg); break;
      case 'n': leak_count = atol(optarg); break;
      case 's': leak_size = atol(optarg); break;
      case 'k': key_leaks = atol(optarg); break;
      case 'm': mode = optarg[0]; break;
      case 'f': do_fork = 1; break;
      default: fprintf(stderr, "usage: churn [-t T] [-p P] [-n N] [-s S] [-k K] [-m malloc|realloc|calloc] [-f]\n"); return 2;
    }
  }
  if (threads < 1) threads = 1;
  if (threads > 64) threads = 64;
  pid_t child = -1;
  if (do_fork) child = fork();
  leak_blocks(leak_count, leak_size);
  churn();
  forget_key_destroy(key_leaks);
  if (child > 0) {
    int status;
    waitpid(child, &status, 0);
  }
  return 0;
}
