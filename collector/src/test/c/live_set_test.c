/* live_set_test: concurrent insert/remove from 4 threads on disjoint addresses; every inserted
 * address is found exactly once, absent ones never, and clear() forgets everything but the
 * never-skip range (the shim's bootstrap arena), whose filter bytes no reader sees zero, even during
 * a clear. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "live_set.h"

#include "check.h"

static void count_entry(uintptr_t addr, uint64_t size, void *arg) {
  CHECK(addr == 0x1000 && size == 7);
  ++*(long *)arg;
}

static _Atomic long busy;

static void *worker(void *arg) {
  uintptr_t base = (uintptr_t)arg << 40;
  for (int round = 0; round < 50; round++) {
    for (uintptr_t i = 0; i < 5000; i++) {
      enum lw_live_insert r;
      /* Inserts take a try-lock: under this contention (4 threads inserting flat out on 2 cores) some
       * give up, as they must rather than wait; the shim counts those as live_set_busy. */
      while ((r = lw_live_set_insert(base + i * 16 + 16, i, NULL)) == LW_LIVE_BUSY) atomic_fetch_add(&busy, 1);
      CHECK(r == LW_LIVE_INSERTED);
    }
    for (uintptr_t i = 0; i < 5000; i++) CHECK(lw_live_set_remove(base + i * 16 + 16, NULL) == 1);
    for (uintptr_t i = 0; i < 5000; i++) CHECK(lw_live_set_remove(base + i * 16 + 16, NULL) == 0);
  }
  return NULL;
}

static _Alignas(64) char arena[256 * 1024]; /* as the shim's bootstrap arena */
static _Atomic int clearing = 1;
static _Atomic long zero_reads, reads;

/* Reads the arena's filter bytes while the main thread clears the set again and again. */
static void *arena_reader(void *arg) {
  (void)arg;
  while (atomic_load(&clearing)) {
    for (size_t off = 0; off < sizeof arena; off += 4096) {
      if (!lw_live_set_maybe((uintptr_t)arena + off)) atomic_fetch_add(&zero_reads, 1);
      atomic_fetch_add(&reads, 1);
    }
  }
  return NULL;
}

/* Every page of [lo, hi) may be listed; `others` (same filter pages, not in the range) are not. */
static void check_never_skip(uintptr_t lo, uintptr_t hi, const uintptr_t *others, int nothers) {
  for (uintptr_t a = lo; a < hi; a += 4096) CHECK(lw_live_set_maybe(a));
  for (int i = 0; i < nothers; i++) CHECK(!lw_live_set_maybe(others[i]));
}

static void never_skip_tests(void) {
  uintptr_t lo = (uintptr_t)arena, hi = lo + sizeof arena;
  lw_live_set_never_skip(lo, hi);
  /* Blocks whose filter bytes sit beside the arena's (the next and previous heap pages) and in another
   * page of the filter (8,192 heap pages on: not a multiple of the filter's 1 GiB period). */
  uintptr_t others[] = {(lo & ~(uintptr_t)4095) - 4096, (hi + 4095) & ~(uintptr_t)4095, lo + ((uintptr_t)8192 << LW_LIVE_SET_PAGE_SHIFT)};
  for (int i = 0; i < 3; i++) CHECK(lw_live_set_insert(others[i], 8, NULL) == LW_LIVE_INSERTED);
  for (int i = 0; i < 3; i++) CHECK(lw_live_set_maybe(others[i]));
  lw_live_set_clear();
  check_never_skip(lo, hi, others, 3);

  pthread_t r;
  CHECK(pthread_create(&r, NULL, arena_reader, NULL) == 0);
  for (int i = 0; i < 2000; i++) {
    CHECK(lw_live_set_insert(others[i % 3], 8, NULL) == LW_LIVE_INSERTED);
    lw_live_set_clear();
  }
  atomic_store(&clearing, 0);
  CHECK(pthread_join(r, NULL) == 0);
  fprintf(stderr, "live_set_test: %ld reads of the arena's filter bytes during 2000 clears, %ld zero\n",
          atomic_load(&reads), atomic_load(&zero_reads));
  CHECK(atomic_load(&zero_reads) == 0);
  check_never_skip(lo, hi, others, 3);

  /* A range whose filter bytes wrap around the filter's end (addresses only: nothing is dereferenced). */
  uintptr_t wlo = (((uintptr_t)1 << LW_LIVE_SET_FILTER_BITS) - 10) << LW_LIVE_SET_PAGE_SHIFT;
  uintptr_t whi = wlo + (64 << LW_LIVE_SET_PAGE_SHIFT);
  uintptr_t wothers[] = {wlo - 4096, whi};
  lw_live_set_never_skip(wlo, whi);
  for (int i = 0; i < 2; i++) CHECK(lw_live_set_insert(wothers[i], 8, NULL) == LW_LIVE_INSERTED);
  lw_live_set_clear();
  check_never_skip(wlo, whi, wothers, 2);
  size_t wrapped_nonzero = 0; /* every byte but the range's 64 zeroed, on both sides of the wrap */
  for (size_t i = 0; i < sizeof lw_live_set_filter; i++) wrapped_nonzero += atomic_load(&lw_live_set_filter[i]) != 0;
  CHECK(wrapped_nonzero == 64);
  lw_live_set_never_skip(0, 0);
  lw_live_set_clear();
  CHECK(!lw_live_set_maybe(wlo) && !lw_live_set_maybe(lo));
}

/* Resident pages of the filter (a static array: its whole pages are anonymous .bss); *whole gets how
 * many whole system pages lie inside it. */
static size_t filter_pages_resident(size_t *whole) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  uintptr_t lo = ((uintptr_t)lw_live_set_filter + page - 1) & ~(uintptr_t)(page - 1);
  uintptr_t hi = ((uintptr_t)lw_live_set_filter + sizeof lw_live_set_filter) & ~(uintptr_t)(page - 1);
  static unsigned char vec[1 << 18];
  CHECK(mincore((void *)lo, hi - lo, vec) == 0);
  *whole = (hi - lo) / page;
  size_t n = 0;
  for (size_t i = 0; i < (hi - lo) / page; i++) n += vec[i] & 1;
  return n;
}

/* Exact mode saturates the whole filter; a clear (the next sampled session) gives it back, all but
 * the page with the never-skip range's bytes, and zero reads again everywhere else. */
static void skip_none_tests(void) {
  uintptr_t lo = (uintptr_t)arena, hi = lo + sizeof arena;
  lw_live_set_never_skip(lo, hi);
  lw_live_set_clear();
  lw_live_set_skip_none();
  for (uintptr_t a = 0; a < ((uintptr_t)1 << (LW_LIVE_SET_FILTER_BITS + LW_LIVE_SET_PAGE_SHIFT)); a += 4096 * 97)
    CHECK(lw_live_set_maybe(a));
  size_t whole = 0;
  size_t touched = filter_pages_resident(&whole);
  lw_live_set_clear();
  size_t kept = filter_pages_resident(&whole);
  fprintf(stderr, "live_set_test: filter pages resident after skip_none %zu, after a clear %zu\n", touched, kept);
  CHECK(touched == whole && kept <= 2);
  check_never_skip(lo, hi, NULL, 0);
  size_t nonzero = 0, arena_pages = ((hi + 4095) >> 12) - (lo >> 12);
  for (size_t i = 0; i < sizeof lw_live_set_filter; i++) nonzero += atomic_load(&lw_live_set_filter[i]) != 0;
  CHECK(nonzero == arena_pages);
  lw_live_set_never_skip(0, 0);
  lw_live_set_clear();
}

int main(void) {
  CHECK(lw_live_set_init(20) == 0);
  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  /* Tombstones are reclaimed: 4 x 50 rounds of 5,000 addresses went in and out. A removal that
   * finds the set's lock taken leaves its tombstone to a later removal nearby, so a few remain;
   * without reclaiming they would be a million. */
  fprintf(stderr, "live_set_test: %zu tombstones after concurrent churn\n", lw_live_set_tombstones());
  CHECK(lw_live_set_tombstones() < (1u << 20) / 100);
  CHECK(lw_live_set_insert(0x1000, 7, NULL) == LW_LIVE_INSERTED);
  CHECK(lw_live_set_maybe(0x1000));
  /* The same address listed again: its earlier block was freed behind the shim's back. */
  uint64_t old = 0;
  CHECK(lw_live_set_insert(0x1000, 7, &old) == LW_LIVE_REPLACED && old == 7);
  long seen = 0;
  lw_live_set_for_each(count_entry, &seen);
  CHECK(seen == 1);
  lw_live_set_clear();
  CHECK(lw_live_set_remove(0x1000, NULL) == 0);
  CHECK(!lw_live_set_maybe(0x1000));
  CHECK(lw_live_set_remove(0, NULL) == 0);
  /* Churn of one thread through a small table: unsampled lookups keep finding empty slots fast. */
  for (uintptr_t i = 0; i < 1000000; i++) {
    CHECK(lw_live_set_insert(0x10000 + i * 48, 1, NULL) == LW_LIVE_INSERTED);
    if (i >= 100) CHECK(lw_live_set_remove(0x10000 + (i - 100) * 48, NULL) == 1);
  }
  fprintf(stderr, "live_set_test: %zu tombstones after 1M single-thread inserts and removals\n", lw_live_set_tombstones());
  CHECK(lw_live_set_tombstones() < 64);
  never_skip_tests();
  skip_none_tests();
  printf("live_set_test: ok (%ld contended inserts gave up and were retried)\n", atomic_load(&busy));
  return 0;
}
