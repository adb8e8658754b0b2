#include "resync.h"

#include "live_set.h"

_Atomic int lw_resync_wanted;
static _Atomic int running;

typedef struct {
  lw_resync_entries_payload head;
  uint64_t pairs[LW_RESYNC_BATCH * 2];
  int n;
  int failed;
  lw_ring *ring;
} resync_batch;

/* One resync at a time (running), so one buffer for all threads: 4 KiB kept off small thread stacks
 * and out of thread-local storage, where it displaced the hot per-thread counters. */
static resync_batch batch;

static void flush(resync_batch *c) {
  if (c->n && !c->failed) {
    c->head.count = (uint64_t)c->n;
    if (lw_ring_write(c->ring, LW_REC_RESYNC_ENTRIES, &c->head, sizeof c->head, c->pairs, (uint32_t)c->n * 16u) == UINT64_MAX)
      c->failed = 1;
  }
  c->n = 0;
}

static void add(uintptr_t addr, uint64_t size, void *arg) {
  resync_batch *c = arg;
  if (c->failed) return;
  c->pairs[2 * c->n] = addr;
  c->pairs[2 * c->n + 1] = size;
  if (++c->n == LW_RESYNC_BATCH) flush(c);
}

int lw_resync_run(lw_ring *ring, uint64_t epoch) {
  if (!ring->hdr) return 0;
  uint64_t w = atomic_load_explicit(&ring->hdr->write_pos, memory_order_relaxed);
  uint64_t r = atomic_load_explicit(&ring->hdr->read_pos, memory_order_relaxed);
  if (w - r > (ring->mask + 1) / 4) return 0;
  int idle = 0;
  if (!atomic_compare_exchange_strong(&running, &idle, 1)) return 0;
  atomic_store(&lw_resync_wanted, 0);
  batch.n = 0;
  batch.failed = 0;
  batch.ring = ring;
  lw_resync_marker_payload marker = {epoch};
  if (lw_ring_write(ring, LW_REC_RESYNC_BEGIN, &marker, sizeof marker, NULL, 0) == UINT64_MAX) {
    batch.failed = 1;
  } else {
    lw_live_set_for_each(add, &batch);
    flush(&batch);
    if (!batch.failed && lw_ring_write(ring, LW_REC_RESYNC_END, &marker, sizeof marker, NULL, 0) == UINT64_MAX)
      batch.failed = 1;
  }
  int done = !batch.failed;
  if (done) {
    atomic_fetch_add_explicit(&ring->hdr->stats.resyncs_completed, 1, memory_order_relaxed);
  } else {
    atomic_store(&lw_resync_wanted, 1);
    atomic_fetch_add_explicit(&ring->hdr->stats.resyncs_abandoned, 1, memory_order_relaxed);
  }
  atomic_store(&running, 0);
  return done;
}

void lw_resync_reset(void) {
  atomic_store(&lw_resync_wanted, 0);
  atomic_store(&running, 0);
}
