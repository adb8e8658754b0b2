/* hazard_records: what the ring says in corner cases, checked by replaying this process's own ring.
 *   fixed   a mapping placed with MAP_FIXED over a recorded one: the old range is recorded unmapped
 *           first (else both count); a realloc that fails leaves its block outstanding.
 *   delay   (LEAKWATCH_START_DELAY=1) blocks allocated during the warm-up are neither recorded nor
 *           listed: their frees later write nothing (no FREE for an ALLOC downstream never saw).
 * Run with LEAKWATCH_SAMPLE_BYTES=1. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>

#include "check.h"

struct seen {
  uint64_t watch, watch_len;
  long allocs, frees, free_ranges_before_second_alloc;
  int second_alloc_seen;
};

static void on_record(uint32_t type, const uint8_t *p, uint32_t len, uint64_t pos, void *arg) {
  (void)len, (void)pos;
  struct seen *s = arg;
  uint64_t addr;
  memcpy(&addr, p, 8);
  if (addr != s->watch) return;
  if (type == LW_REC_ALLOC) {
    if (++s->allocs == 2) s->second_alloc_seen = 1;
  } else if (type == LW_REC_FREE) {
    s->frees++;
    uint64_t l;
    memcpy(&l, p + 16, 8);
    if (!s->second_alloc_seen && p[8] == LW_KIND_MMAP && l == s->watch_len) s->free_ranges_before_second_alloc++;
  }
}

int main(int argc, char **argv) {
  CHECK(argc == 2);
  if (strcmp(argv[1], "fixed") == 0) {
    size_t len = 1 << 20;
    char *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(a != MAP_FAILED);
    char *b = mmap(a, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CHECK(b == a);
    struct seen s = {(uint64_t)(uintptr_t)a, len, 0, 0, 0, 0};
    lw_ring_header *h = test_own_ring();
    CHECK(h);
    test_ring_replay(h, 0, on_record, &s);
    CHECK(s.allocs == 2 && s.free_ranges_before_second_alloc == 1);

    void *p = malloc(5000);
    CHECK(p);
    errno = 0;
    CHECK(realloc(p, SIZE_MAX / 2) == NULL && errno == ENOMEM);
    struct seen r = {(uint64_t)(uintptr_t)p, 0, 0, 0, 0, 0};
    test_ring_replay(h, 0, on_record, &r);
    CHECK(r.allocs == r.frees + 1); /* outstanding: a failed realloc did not free it */
    free(p);
    puts("hazard_records fixed: MAP_FIXED replaces a mapping as an unmap; a failed realloc keeps its block: ok");
    return 0;
  }
  void *blocks[100];
  for (int i = 0; i < 100; i++) blocks[i] = malloc(3000);
  struct timespec pause = {1, 300 * 1000 * 1000};
  nanosleep(&pause, NULL);
  for (int i = 0; i < 100; i++) free(blocks[i]);
  lw_ring_header *h = test_own_ring();
  CHECK(h);
  long stray = 0;
  for (int i = 0; i < 100; i++) {
    struct seen s = {(uint64_t)(uintptr_t)blocks[i], 0, 0, 0, 0, 0};
    test_ring_replay(h, 0, on_record, &s);
    if (s.frees > s.allocs) stray++;
  }
  printf("hazard_records delay: %ld of 100 warm-up blocks had a FREE without an ALLOC\n", stray);
  CHECK(stray == 0);
  return 0;
}
