/* ring_test: the writer's guarantees under real multithreaded load, checked by a C reader that
 * follows the same protocol as the Java one: every record whole, in order per thread, drops
 * counted exactly (written + dropped == attempted), and a corrupt read_pos never causes a write
 * outside the mapping. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared_ring_buffer.h"

#include "check.h"

#define WRITERS 4
#define PER_WRITER 200000

static lw_ring ring;
static _Atomic int writers_done;

static void *writer(void *arg) {
  uint64_t id = (uint64_t)(uintptr_t)arg;
  for (uint64_t i = 0; i < PER_WRITER; i++) {
    uint64_t payload[4] = {id, i, id * 1000003 + i, 0};
    uint32_t len = (uint32_t)(24 + 8 * (i % 2)); /* 24 or 32 bytes: varied lengths wrap the end */
    lw_ring_write(&ring, LW_REC_FREE, payload, len, NULL, 0);
  }
  atomic_fetch_add(&writers_done, 1);
  return NULL;
}

static uint64_t read_u64(uint64_t pos) {
  uint64_t v;
  uint64_t off = pos & ring.mask;
  memcpy(&v, ring.data + off, 8); /* 8-aligned, never straddles */
  return v;
}

static _Atomic int stop_scribbler;

/* Moves write_pos back and forth between two aligned values as fast as it can. */
static void *scribbler(void *arg) {
  (void)arg;
  while (!atomic_load_explicit(&stop_scribbler, memory_order_relaxed)) {
    atomic_store(&ring.hdr->write_pos, 0);
    atomic_store(&ring.hdr->write_pos, 8);
  }
  return NULL;
}

static uint64_t backed_bytes(const char *path) {
  struct stat st;
  CHECK(stat(path, &st) == 0);
  return (uint64_t)st.st_blocks * 512;
}

static lw_ring grown;
static _Atomic uint64_t flood_attempts;

static void *flooder(void *arg) {
  (void)arg;
  uint64_t payload[3] = {7, 8, 9};
  for (int i = 0; i < 65536; i++) { /* 2 MiB of 32-byte records per thread */
    lw_ring_write(&grown, LW_REC_FREE, payload, 24, NULL, 0);
    atomic_fetch_add(&flood_attempts, 1);
  }
  return NULL;
}

static lw_ring exact_ring;
static void *exact_flooder(void *arg) {
  (void)arg;
  uint64_t payload[3] = {7, 8, 9};
  for (int i = 0; i < 1536 * 1024; i++) lw_ring_write(&exact_ring, LW_REC_FREE, payload, 24, NULL, 0); /* 48 MiB */
  return NULL;
}

/* Exact mode floods from its first allocation: four threads on this machine's two cores write 192 MiB
 * into a 256 MiB ring's first lap, as fast as they can. The reservation must stay ahead of them, the
 * thread extending it descheduled or not: no record should be dropped for want of backing. */
static void exact_ring_keeps_ahead_of_a_flood(void) {
  char dir[] = "/dev/shm/lw-ring-exact-XXXXXX";
  char alt[] = "/tmp/lw-ring-exact-XXXXXX";
  char *d = mkdtemp(dir) ? dir : mkdtemp(alt);
  CHECK(d);
  CHECK(lw_ring_create(&exact_ring, d, 256u << 20, 5, 0, 46, 0, 0) == 0);
  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, exact_flooder, NULL);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  lw_ring_stats *st = &exact_ring.hdr->stats;
  printf("ring_test: exact ring, 4 threads wrote %llu records, %llu dropped unreserved, %llu for contention\n",
         (unsigned long long)atomic_load(&st->records_written),
         (unsigned long long)atomic_load(&st->records_dropped_unreserved),
         (unsigned long long)atomic_load(&st->records_dropped_contention));
  /* 0 in every run here; a loaded CI machine may keep the extender off a CPU past the 20 ms a writer
   * waits: a thousandth is allowed. Dropping instead of waiting lost 25-38%, populating inside the
   * extension up to 7%. */
  CHECK(atomic_load(&st->records_dropped_unreserved) * 1000 <= 4u * 1536 * 1024);
  CHECK(atomic_load(&st->records_written) + atomic_load(&st->records_dropped_contention) == 4u * 1536 * 1024);
  lw_ring_discard(&exact_ring);
  rmdir(d);
}

/* A sampled ring backs 64 KiB at creation (a short process makes a handful of records) and doubles
 * ahead of its first lap; no write ever lands on an unbacked page, and none is dropped at a sampled
 * writer's pace. In tmpfs when there is one, where backing is what a page costs. */
static void sampled_ring_reserves_as_it_fills(void) {
  char dir[] = "/dev/shm/lw-ring-grow-XXXXXX";
  char alt[] = "/tmp/lw-ring-grow-XXXXXX";
  char *d = mkdtemp(dir) ? dir : mkdtemp(alt);
  CHECK(d);
  char path[256];
  snprintf(path, sizeof path, "%s/leakwatch-2-43.ring", d);
  CHECK(lw_ring_create(&grown, d, 1 << 20, 2, 0, 43, 524288, 0) == 0);
  uint64_t at_start = backed_bytes(path);
  CHECK(at_start >= LW_RING_HEADER_SIZE + LW_RING_FIRST_RESERVE);
  CHECK(at_start <= LW_RING_HEADER_SIZE + LW_RING_FIRST_RESERVE + 8192);
  uint64_t payload[3] = {1, 2, 3};
  uint64_t most = 0;
  for (uint64_t written = 0; written + 32 <= (900u << 10); written += 32) {
    CHECK(lw_ring_write(&grown, LW_REC_FREE, payload, 24, NULL, 0) != UINT64_MAX);
    uint64_t reserved = atomic_load(&grown.reserved);
    CHECK(reserved >= written + 32); /* every byte written was backed first */
    CHECK(backed_bytes(path) >= LW_RING_HEADER_SIZE + reserved || written % 4096 != 0);
    if (written == (40u << 10)) most = reserved; /* 40 KiB in: doubled once, to 128 KiB */
  }
  CHECK(most == (128u << 10));
  CHECK(atomic_load(&grown.hdr->stats.records_dropped_unreserved) == 0);
  CHECK(backed_bytes(path) <= LW_RING_HEADER_SIZE + (1u << 20) + 8192);
  lw_ring_discard(&grown);

  /* An extension that fails (here the ring's name is gone for a while: no descriptor to reserve
   * through) drops what does not fit, counted, and is tried again a bounded number of writes later:
   * the ring is not left at its first 64 KiB for the rest of the process's life. */
  char away[300];
  snprintf(path, sizeof path, "%s/leakwatch-4-45.ring", d);
  snprintf(away, sizeof away, "%s/elsewhere", d);
  CHECK(lw_ring_create(&grown, d, 1 << 20, 4, 0, 45, 524288, 0) == 0);
  CHECK(rename(path, away) == 0);
  uint64_t tries = 0;
  while (atomic_load(&grown.hdr->stats.records_dropped_unreserved) == 0 && tries < 100000) {
    lw_ring_write(&grown, LW_REC_FREE, payload, 24, NULL, 0);
    tries++;
  }
  CHECK(atomic_load(&grown.hdr->stats.records_dropped_unreserved) > 0);
  CHECK(atomic_load(&grown.reserved) == LW_RING_FIRST_RESERVE);
  CHECK(rename(away, path) == 0);
  uint64_t after = 0;
  while (atomic_load(&grown.reserved) == LW_RING_FIRST_RESERVE && after < 10000) {
    lw_ring_write(&grown, LW_REC_FREE, payload, 24, NULL, 0);
    after++;
  }
  CHECK(atomic_load(&grown.reserved) > LW_RING_FIRST_RESERVE);
  CHECK(after <= LW_RING_RESERVE_BACKOFF + 1);
  uint64_t dropped_before = atomic_load(&grown.hdr->stats.records_dropped_unreserved);
  for (int i = 0; i < 4000; i++) lw_ring_write(&grown, LW_REC_FREE, payload, 24, NULL, 0);
  CHECK(atomic_load(&grown.hdr->stats.records_dropped_unreserved) == dropped_before);
  printf("ring_test: an extension that failed dropped %llu records, then succeeded %llu writes after the "
         "cause passed: ok\n",
         (unsigned long long)dropped_before, (unsigned long long)after);
  lw_ring_discard(&grown);

  /* Four threads flooding a fresh one from 64 KiB, faster than any sampled process writes: whatever
   * could not be backed in time is dropped and counted, nothing faults. */
  snprintf(path, sizeof path, "%s/leakwatch-3-44.ring", d);
  CHECK(lw_ring_create(&grown, d, 8u << 20, 3, 0, 44, 524288, 0) == 0);
  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, flooder, NULL);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  lw_ring_stats *st = &grown.hdr->stats;
  uint64_t unreserved = atomic_load(&st->records_dropped_unreserved);
  CHECK(atomic_load(&st->records_written) + unreserved + atomic_load(&st->records_dropped_full) +
            atomic_load(&st->records_dropped_contention) ==
        atomic_load(&flood_attempts));
  CHECK(atomic_load(&grown.reserved) >= atomic_load(&grown.hdr->write_pos));
  printf("ring_test: sampled ring backed %llu KiB at creation, grew with its first lap; a 4-thread flood "
         "dropped %llu of %llu records for want of backing: ok\n",
         (unsigned long long)(at_start >> 10), (unsigned long long)unreserved,
         (unsigned long long)atomic_load(&flood_attempts));
  lw_ring_discard(&grown);
  rmdir(d);
}

int main(void) {
  char dir[] = "/tmp/lw-ring-test-XXXXXX";
  CHECK(mkdtemp(dir));
  CHECK(lw_ring_create(&ring, dir, 1 << 16, 1, 0, 42, 0, 1) == 0);
  struct stat st;
  char path[256];
  snprintf(path, sizeof path, "%s/leakwatch-1-42.ring", dir);
  CHECK(stat(path, &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  pthread_t t[WRITERS];
  for (int i = 0; i < WRITERS; i++) pthread_create(&t[i], NULL, writer, (void *)(uintptr_t)(i + 1));
  uint64_t next_index[WRITERS + 1] = {0};
  uint64_t r = 0, seen = 0;
  for (;;) {
    int done = atomic_load(&writers_done) == WRITERS;
    uint64_t w = atomic_load_explicit(&ring.hdr->write_pos, memory_order_acquire);
    while (r < w) {
      uint64_t hdr = atomic_load_explicit((_Atomic uint64_t *)(void *)(ring.data + (r & ring.mask)),
                                          memory_order_acquire);
      if (hdr == 0 || (hdr >> 32) == LW_REC_PENDING) break; /* reserved, still being written */
      uint32_t len = (uint32_t)hdr;
      CHECK((hdr >> 32) == LW_REC_FREE);
      CHECK(len == 32 || len == 40);
      uint64_t id = read_u64(r + 8), idx = read_u64(r + 16), check = read_u64(r + 24);
      CHECK(id >= 1 && id <= WRITERS);
      CHECK(check == id * 1000003 + idx);
      CHECK(idx >= next_index[id]); /* per-thread order kept; gaps are drops */
      next_index[id] = idx + 1;
      for (uint64_t z = r; z < r + len; z += 8) memset(ring.data + (z & ring.mask), 0, 8);
      r += len;
      seen++;
      atomic_store_explicit(&ring.hdr->read_pos, r, memory_order_release);
    }
    if (done && r == atomic_load(&ring.hdr->write_pos)) break;
  }
  for (int i = 0; i < WRITERS; i++) pthread_join(t[i], NULL);
  uint64_t written = atomic_load(&ring.hdr->stats.records_written);
  uint64_t dropped = atomic_load(&ring.hdr->stats.records_dropped_full) +
                     atomic_load(&ring.hdr->stats.records_dropped_contention);
  CHECK(written == seen);
  CHECK(atomic_load(&ring.hdr->stats.corrupt_positions) == 0); /* a moving reader is not corruption */
  CHECK(written + dropped == (uint64_t)WRITERS * PER_WRITER);

  /* A peer that scribbles read_pos: writes are refused and counted, nothing outside the map. */
  atomic_store(&ring.hdr->read_pos, atomic_load(&ring.hdr->write_pos) + 4096);
  uint64_t payload[2] = {1, 2};
  CHECK(lw_ring_write(&ring, LW_REC_FREE, payload, 16, NULL, 0) == UINT64_MAX);
  CHECK(atomic_load(&ring.hdr->stats.corrupt_positions) == 1);
  /* An oversize record is refused whole. */
  static uint8_t big[LW_RING_MAX_RECORD];
  CHECK(lw_ring_write(&ring, LW_REC_FREE, big, sizeof big, NULL, 0) == UINT64_MAX);

  /* Unaligned positions from a peer: refused (an 8-byte header store at capacity - 4 would run past
   * the end of the mapping), counted, and nothing is written. */
  uint64_t cap = ring.mask + 1;
  atomic_store(&ring.hdr->write_pos, 3 * cap - 4);
  atomic_store(&ring.hdr->read_pos, 3 * cap - 64);
  CHECK(lw_ring_write(&ring, LW_REC_FREE, payload, 16, NULL, 0) == UINT64_MAX);
  CHECK(atomic_load(&ring.hdr->stats.corrupt_positions) == 2);
  atomic_store(&ring.hdr->write_pos, 3 * cap - 64);
  atomic_store(&ring.hdr->read_pos, 3 * cap - 68);
  CHECK(lw_ring_write(&ring, LW_REC_FREE, payload, 16, NULL, 0) == UINT64_MAX);
  CHECK(atomic_load(&ring.hdr->stats.corrupt_positions) == 3);
  /* A peer that keeps moving write_pos under the CAS: the writer gives up after a bounded number of
   * tries (dropped, counted) instead of spinning forever. */
  atomic_store(&ring.hdr->read_pos, 0);
  atomic_store(&ring.hdr->write_pos, 0);
  atomic_store(&stop_scribbler, 0);
  pthread_t s;
  pthread_create(&s, NULL, scribbler, NULL);
  uint64_t before = atomic_load(&ring.hdr->stats.records_dropped_contention);
  for (int i = 0; i < 100000; i++) lw_ring_write(&ring, LW_REC_FREE, payload, 16, NULL, 0);
  atomic_store(&stop_scribbler, 1);
  pthread_join(s, NULL);
  printf("ring_test: scribbling peer: %llu of 100000 writes gave up\n",
         (unsigned long long)(atomic_load(&ring.hdr->stats.records_dropped_contention) - before));

  printf("ring_test: %llu records read in order, %llu dropped and counted: ok\n",
         (unsigned long long)seen, (unsigned long long)dropped);
  unlink(path);
  rmdir(dir);
  sampled_ring_reserves_as_it_fills();
  exact_ring_keeps_ahead_of_a_flood();
  return 0;
}
