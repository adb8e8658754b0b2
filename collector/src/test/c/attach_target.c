/*
 * attach_target: a service started without the shim that leaks only when told (SIGUSR1), for
 * `leakwatch attach`. It churns malloc/free all the time and prints its rate; it holds blocks from
 * before any attach and frees some of them when told (frees the shim never saw the allocation of).
 *
 *   attach_target [BLOCKS_PER_REQUEST [OPS_PER_SECOND]]   (100, 20000; 0: flat out)
 *   ATTACH_TARGET_SECCOMP=1: under a seccomp filter (one that allows everything)
 *
 * Prints "ready", then each second "ops N/s cpu_ns_per_op C rt_signals R" (its CPU time per
 * malloc/free pair, which the shim's cost raises whatever the pace; the SIGRTMIN+1 signals it has
 * handled) and "leaked N" after each request.
 */
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LEAK_SIZE 4242
static volatile sig_atomic_t requests;
static void *held[256]; /* from start: freed on requests, a few at a time */
static int next_held;

static volatile sig_atomic_t rt_signals; /* SIGRTMIN+1: queued, never merged: none may be lost */

static void on_usr1(int sig) {
  (void)sig;
  requests++;
}

static void on_rt(int sig) {
  (void)sig;
  rt_signals++;
}

__attribute__((noinline)) static void *open_session_key(void) {
  void *p = malloc(LEAK_SIZE);
  memset(p, 0x5a, LEAK_SIZE);
  return p; /* nobody frees it: the leak */
}

__attribute__((noinline)) static void handle_request(int blocks) {
  for (int i = 0; i < blocks; i++) {
    void *volatile key = open_session_key();
    (void)key;
  }
  for (int i = 0; i < 8 && next_held < 256; i++) free(held[next_held++]);
}

static double clock_s(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }

int main(int argc, char **argv) {
  if (getenv("ATTACH_TARGET_SECCOMP")) { /* an allow-everything filter: seccomp mode 2, harmless */
    struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = {1, &allow};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
      return 3;
  }
  int blocks = argc > 1 ? atoi(argv[1]) : 100;
  long rate = argc > 2 ? atol(argv[2]) : 20000;
  signal(SIGUSR1, on_usr1);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_rt;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGRTMIN + 1, &sa, NULL);
  for (int i = 0; i < 256; i++) held[i] = malloc(64 + i);
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("ready\n");
  unsigned seen = 0;
  long leaked = 0, ops = 0;
  double last = now_s(), last_cpu = clock_s(CLOCK_THREAD_CPUTIME_ID), slice = now_s();
  void *ring[64] = {0};
  for (unsigned long i = 0;; i++) {
    size_t slot = i & 63;
    free(ring[slot]);
    ring[slot] = malloc(16 + (i * 7919) % 2000);
    ops++;
    if ((i & 1023) == 0) {
      while (seen != (unsigned)requests) {
        seen++;
        handle_request(blocks);
        leaked += blocks;
        printf("leaked %ld\n", leaked);
      }
      double t = now_s();
      if (t - last >= 1.0) {
        double cpu = clock_s(CLOCK_THREAD_CPUTIME_ID);
        printf("ops %.0f/s cpu_ns_per_op %.1f rt_signals %d\n", ops / (t - last), (cpu - last_cpu) * 1e9 / ops,
               (int)rt_signals);
        ops = 0;
        last = t;
        last_cpu = cpu;
      }
      if (rate > 0) { /* 1024 ops per slice of 1024/rate s */
        slice += 1024.0 / rate;
        double ahead = slice - now_s();
        if (ahead > 0) {
          struct timespec pause = {(time_t)ahead, (long)((ahead - (time_t)ahead) * 1e9)};
          nanosleep(&pause, NULL);
        } else if (ahead < -1) {
          slice = now_s();
        }
      }
    }
  }
}
