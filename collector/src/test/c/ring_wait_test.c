/* ring_wait_test: a ring told to wait when full (LEAKWATCH_RING_FULL_WAIT_MS, `run --exact`).
 *   - With a reader that drains slower than four writers write, nothing is dropped: every record
 *     arrives, whole and in per-thread order, and the waits are counted.
 *   - With no reader, a full ring waits full_wait_ns once, then drops at once until the reader moves.
 *   - A write from a signal handler that interrupted a waiting write never waits.
 *   - A ring not told to wait (the default) drops at once. */
#define _GNU_SOURCE
#include <pthread.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "shared_ring_buffer.h"

#include "check.h"

#define WRITERS 4
#define PER_WRITER 50000

static lw_ring ring;
static _Atomic int writers_done;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *writer(void *arg) {
  uint64_t id = (uint64_t)(uintptr_t)arg;
  for (uint64_t i = 0; i < PER_WRITER; i++) {
    uint64_t payload[3] = {id, i, id * 1000003 + i};
    lw_ring_write(&ring, LW_REC_FREE, payload, sizeof payload, NULL, 0);
  }
  atomic_fetch_add(&writers_done, 1);
  return NULL;
}

static uint64_t read_u64(uint64_t pos) {
  uint64_t v;
  memcpy(&v, ring.data + (pos & ring.mask), 8);
  return v;
}

/* Reads what is there, then sleeps 1 ms: much slower than the writers, so the ring is full often. */
static uint64_t drain_slowly(void) {
  uint64_t next_index[WRITERS + 1] = {0};
  uint64_t r = atomic_load(&ring.hdr->read_pos), seen = 0;
  for (;;) {
    int done = atomic_load(&writers_done) == WRITERS;
    uint64_t w = atomic_load_explicit(&ring.hdr->write_pos, memory_order_acquire);
    int budget = 200;
    while (r < w && budget-- > 0) {
      uint64_t hdr = atomic_load_explicit((_Atomic uint64_t *)(void *)(ring.data + (r & ring.mask)),
                                          memory_order_acquire);
      if (hdr == 0 || (hdr >> 32) == LW_REC_PENDING) break;
      uint32_t len = (uint32_t)hdr;
      CHECK((hdr >> 32) == LW_REC_FREE && len == 32);
      uint64_t id = read_u64(r + 8), idx = read_u64(r + 16);
      CHECK(id >= 1 && id <= WRITERS && read_u64(r + 24) == id * 1000003 + idx);
      CHECK(idx == next_index[id]); /* no gap: nothing dropped */
      next_index[id] = idx + 1;
      for (uint64_t z = r; z < r + len; z += 8) memset(ring.data + (z & ring.mask), 0, 8);
      r += len;
      seen++;
      atomic_store_explicit(&ring.hdr->read_pos, r, memory_order_release);
    }
    if (done && r == atomic_load(&ring.hdr->write_pos)) return seen;
    usleep(1000);
  }
}

static volatile uint64_t handler_ns;
static volatile uint64_t handler_result;

static void on_alarm(int sig) {
  (void)sig;
  uint64_t payload[2] = {7, 7};
  uint64_t t0 = now_ns();
  handler_result = lw_ring_write(&ring, LW_REC_FREE, payload, sizeof payload, NULL, 0);
  handler_ns = now_ns() - t0;
}

static void fill(void) {
  uint64_t payload[2] = {1, 2};
  while (atomic_load(&ring.hdr->write_pos) - atomic_load(&ring.hdr->read_pos) + 24 <= ring.mask + 1)
    CHECK(lw_ring_write(&ring, LW_REC_FREE, payload, sizeof payload, NULL, 0) != UINT64_MAX);
}

int main(void) {
  char dir[] = "/tmp/lw-ring-wait-test-XXXXXX";
  CHECK(mkdtemp(dir));
  CHECK(lw_ring_create(&ring, dir, 1 << 16, 1, 0, 43, 0, 1) == 0);
  ring.full_wait_ns = 2000000000ull; /* 2 s without the reader moving */

  /* 1. Four writers, a slow reader: 200,000 records through a 64 KiB ring, none dropped. */
  pthread_t t[WRITERS];
  uint64_t t0 = now_ns();
  for (int i = 0; i < WRITERS; i++) pthread_create(&t[i], NULL, writer, (void *)(uintptr_t)(i + 1));
  uint64_t seen = drain_slowly();
  for (int i = 0; i < WRITERS; i++) pthread_join(t[i], NULL);
  CHECK(seen == (uint64_t)WRITERS * PER_WRITER);
  CHECK(atomic_load(&ring.hdr->stats.records_dropped_full) == 0);
  CHECK(atomic_load(&ring.hdr->stats.records_dropped_contention) == 0);
  uint64_t waits = atomic_load(&ring.hdr->stats.full_waits);
  CHECK(waits > 0);
  printf("ring_wait_test: %llu records through a 64 KiB ring in %.2f s, 0 dropped, %llu waits (%.2f s)\n",
         (unsigned long long)seen, (double)(now_ns() - t0) / 1e9, (unsigned long long)waits,
         (double)atomic_load(&ring.hdr->stats.full_wait_ns) / 1e9);

  /* 2. No reader: the first write waits out full_wait_ns, then drops; the next drop at once. */
  ring.full_wait_ns = 200000000ull; /* 200 ms */
  fill();
  uint64_t payload[2] = {3, 4};
  t0 = now_ns();
  CHECK(lw_ring_write(&ring, LW_REC_FREE, payload, sizeof payload, NULL, 0) == UINT64_MAX);
  uint64_t first = now_ns() - t0;
  CHECK(first >= 200000000ull && first < 2000000000ull);
  t0 = now_ns();
  for (int i = 0; i < 1000; i++) CHECK(lw_ring_write(&ring, LW_REC_FREE, payload, sizeof payload, NULL, 0) == UINT64_MAX);
  uint64_t later = now_ns() - t0;
  CHECK(later < 50000000ull); /* 1,000 drops without a wait */
  CHECK(atomic_load(&ring.hdr->stats.records_dropped_full) == 1001);
  printf("ring_wait_test: no reader: first write gave up after %.0f ms, 1,000 more dropped in %.2f ms\n",
         (double)first / 1e6, (double)later / 1e6);

  /* 3. Once the reader moves (here: room for two records), writes go through again. */
  uint64_t r = atomic_load(&ring.hdr->read_pos);
  atomic_store(&ring.hdr->read_pos, r + 64);
  CHECK(lw_ring_write(&ring, LW_REC_FREE, payload, sizeof payload, NULL, 0) != UINT64_MAX);

  /* 4. A signal handler's write while this thread waits in a write: the handler does not wait. */
  fill();
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it = {{0, 0}, {0, 50000}}; /* 50 ms into the wait */
  setitimer(ITIMER_REAL, &it, NULL);
  t0 = now_ns();
  errno = 4242;
  CHECK(lw_ring_write(&ring, LW_REC_FREE, payload, sizeof payload, NULL, 0) == UINT64_MAX);
  uint64_t outer = now_ns() - t0;
  CHECK(errno == 4242); /* the sleep the signal cut short (EINTR) leaves the program's errno alone */
  CHECK(handler_result == UINT64_MAX);
  CHECK(handler_ns < 20000000ull);
  CHECK(outer >= 200000000ull);
  printf("ring_wait_test: a handler's write inside a waiting write returned in %.3f ms (outer waited %.0f ms)\n",
         (double)handler_ns / 1e6, (double)outer / 1e6);

  /* 5. The default: no waiting at all. */
  ring.full_wait_ns = 0;
  atomic_store(&ring.hdr->read_pos, atomic_load(&ring.hdr->read_pos) + 8); /* moved: no give-up memory helps */
  fill();
  t0 = now_ns();
  CHECK(lw_ring_write(&ring, LW_REC_FREE, payload, sizeof payload, NULL, 0) == UINT64_MAX);
  CHECK(now_ns() - t0 < 10000000ull);

  lw_ring_discard(&ring);
  rmdir(dir);
  printf("ring_wait_test: ok\n");
  return 0;
}
