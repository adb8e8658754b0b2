/* hazard_signal_free: a signal handler releases recorded blocks, often while the interrupted thread is
 * inside the shim (unwinding the stack of its own last allocation). Those releases must be recorded (a
 * dropped one is a permanent false leak), so at the end no block of this test is outstanding in the
 * ring. The blocks are mappings: munmap is async-signal-safe, glibc's free is not (a handler freeing
 * heap blocks while its thread is inside malloc corrupts the heap with or without the shim). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/time.h>

#include "check.h"

#define SLOTS 64
#define SIZE 8192
static _Atomic(void *) slots[SLOTS];
static _Atomic long handler_frees;

static void on_alarm(int sig) {
  (void)sig;
  for (int i = 0; i < SLOTS; i++) {
    void *p = atomic_exchange(&slots[i], NULL);
    if (p) {
      munmap(p, SIZE);
      atomic_fetch_add(&handler_frees, 1);
    }
  }
}

/* outstanding addresses of SIZE-byte blocks, by replaying ALLOC and FREE */
#define MAXLIVE 4096
static uint64_t live[MAXLIVE];
static int nlive;

static void on_record(uint32_t type, const uint8_t *p, uint32_t len, uint64_t pos, void *arg) {
  (void)len, (void)pos, (void)arg;
  uint64_t addr, size;
  memcpy(&addr, p, 8);
  if (type == LW_REC_ALLOC) {
    memcpy(&size, p + 8, 8);
    if (size == SIZE && p[36] == LW_KIND_MMAP) {
      CHECK(nlive < MAXLIVE);
      live[nlive++] = addr;
    }
  } else if (type == LW_REC_FREE) {
    for (int i = 0; i < nlive; i++)
      if (live[i] == addr) {
        live[i] = live[--nlive];
        break;
      }
  }
}

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it = {{0, 200}, {0, 200}};
  setitimer(ITIMER_REAL, &it, NULL);
  for (long n = 0; n < 100000; n++) {
    void *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    void *old = atomic_exchange(&slots[n % SLOTS], p);
    if (old) munmap(old, SIZE);
  }
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  on_alarm(0);
  lw_ring_header *h = test_own_ring();
  CHECK(h);
  test_ring_replay(h, 0, on_record, NULL);
  printf("hazard_signal_free: %ld frees in the signal handler, %llu of them inside the shim; %d blocks outstanding\n",
         atomic_load(&handler_frees), (unsigned long long)atomic_load(&h->stats.frees_reentrant), nlive);
  printf("hazard_signal_free: dropped: full %llu, contention %llu, unreserved %llu\n",
         (unsigned long long)atomic_load(&h->stats.records_dropped_full),
         (unsigned long long)atomic_load(&h->stats.records_dropped_contention),
         (unsigned long long)atomic_load(&h->stats.records_dropped_unreserved));
  CHECK(atomic_load(&h->stats.records_dropped_full) == 0);
  CHECK(nlive == 0);
  puts("hazard_signal_free: ok");
  return 0;
}
