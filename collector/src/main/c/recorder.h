/*
 * recorder: what the shim records and when (the policy); shim.c's entry points call only this.
 *
 *   - Sampled mode: an allocation is recorded when the thread's Poisson countdown says so; the block
 *     is listed in live_set (before its ALLOC is written) and only frees of listed blocks are
 *     written, after the block left the list. Exact mode: every allocation and every free.
 *   - Order: a free is written before the real free, an allocation after the real call returns.
 *   - A thread inside the shim (tl_busy: unwinding may allocate) passes allocations straight
 *     through; a free reaching the shim there (a signal handler) is still written, the ring write
 *     takes no lock and allocates nothing.
 *   - Only the ring's owner writes: a child made by _Fork or a raw clone (no fork handlers ran)
 *     finds the owner token wiped (MADV_WIPEONFORK) and writes nothing; fork gives the child a ring
 *     of its own from a handler that takes no lock.
 */
#ifndef LEAKWATCH_RECORDER_H
#define LEAKWATCH_RECORDER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "live_set.h"
#include "sampler.h"
#include "shared_ring_buffer.h"

#define LW_TLS __thread __attribute__((tls_model("initial-exec")))

/* The fast paths' data, declared hidden where it is used (as -fvisibility=hidden makes it where it is
 * defined): the compiler then reads it directly, instead of loading its address from the GOT first
 * (which the linker turns into a lea, still one instruction more a malloc and a free). */
#define LW_HIDDEN __attribute__((visibility("hidden")))

extern LW_HIDDEN _Atomic int lw_active;     /* ring set up and recording */
/* Blocks served from the shim's static arena while it looked up the real allocator (shim.c). */
extern _Atomic uint64_t lw_bootstrap_allocations;
extern LW_HIDDEN uint64_t lw_sample_bytes;  /* 0 = exact mode */
extern lw_ring lw_the_ring;
extern LW_TLS int lw_tl_busy;
extern LW_TLS lw_sampler lw_tl_sampler;
extern _Atomic int lw_child_pending; /* a forked child that has not made its ring yet */
void lw_child_open(void);

/* Constructor and destructor work, and the fork child handler. */
void lw_recorder_start(uintptr_t self_probe);
void lw_recorder_exit(void);
/* An attach (the shim dlopen'd into a running process): start recording with these NAME=VALUE
 * settings. -1 when already recording or when the ring cannot be made. */
int lw_recorder_attach(uintptr_t self_probe, const char *settings);
/* Ends an attach's recording: the ring's last records and its DETACHED flag. -1 when not recording. */
int lw_recorder_detach(void);
extern _Atomic int lw_attached; /* attach.c: recording in a process it was dlopen'd into */
void lw_attach_poll(uint64_t now_ns);

/* Is the ring there to record into? A forked child makes its own here, at its first recorded
 * event (heap or mmap), unless this thread is inside the shim. */
static inline int lw_ring_ready(void) {
  if (__builtin_expect(atomic_load_explicit(&lw_active, memory_order_relaxed), 1)) return 1;
  if (!atomic_load_explicit(&lw_child_pending, memory_order_relaxed) || lw_tl_busy) return 0;
  lw_child_open();
  return atomic_load_explicit(&lw_active, memory_order_relaxed);
}

/* May this thread record now? (The ring ready, not dormant, not inside the shim.) Asked once per
 * sample point in sampled mode, at every allocation in exact. */
static inline int lw_recording_allowed(void) {
  if (!lw_ring_ready()) return 0;
  /* The control word shares no line with the hot positions: it stays cached until someone flips it. */
  if (__builtin_expect(atomic_load_explicit(&lw_the_ring.hdr->control, memory_order_relaxed) & LW_CONTROL_DORMANT, 0))
    return 0;
  if (lw_tl_busy) {
    atomic_fetch_add_explicit(&lw_the_ring.hdr->stats.reentrant_calls, 1, memory_order_relaxed);
    return 0;
  }
  return 1;
}

/* Slow paths. */
void lw_record_alloc(void *p, uint64_t n, double weight, int kind);
int lw_record_free(void *p, uint64_t *size);
int lw_record_unmap(void *addr, uint64_t len);

/* Points malloc's fast path at the real malloc, or in exact mode at its slow half (shim.c): after the
 * lookup, and whenever the mode is set. */
void lw_shim_route_malloc(void);

/* lw_on_alloc's slow path: a sample point was reached, or exact mode (sample_bytes as lw_on_alloc
 * read it: an attach changing the setting meanwhile cannot mix the two). */
void lw_on_alloc_slow(void *p, size_t n, uint64_t sample_bytes);

/* After a heap allocation returned p (NULL: nothing to record). Sampled, the path every unsampled
 * allocation takes is the countdown alone, inlined into the entry point: whether recording is on,
 * dormant or re-entered is asked only at a sample point (a countdown spent on bytes that are then
 * not recorded changes nothing, the countdown being memoryless). */
static inline void lw_on_alloc(void *p, size_t n) {
  uint64_t sample_bytes = lw_sample_bytes;
  if (__builtin_expect(sample_bytes != 0, 1)) {
    if (lw_sampler_skip(&lw_tl_sampler, n)) return;
  } else if (!atomic_load_explicit(&lw_active, memory_order_relaxed) &&
             !atomic_load_explicit(&lw_child_pending, memory_order_relaxed)) {
    return; /* exact mode, not recording (after a detach): a plain pass-through */
  }
  lw_on_alloc_slow(p, n, sample_bytes);
}

/* free's first question, one byte of a static array: 1 when p's free is certainly not recorded (no
 * listed block starts in a page that maps to p's filter byte). Exact mode saturates every byte
 * (lw_live_set_skip_none), and then every free asks lw_on_free (which lets it go when not
 * recording); before any recording starts the filter is zero, but for the bootstrap arena's bytes,
 * and frees go straight to the real free. */
static inline int lw_free_skips(const void *p) {
  size_t i = ((uintptr_t)p >> LW_LIVE_SET_PAGE_SHIFT) & (((size_t)1 << LW_LIVE_SET_FILTER_BITS) - 1);
  return atomic_load_explicit(&lw_live_set_filter[i], memory_order_relaxed) == 0;
}

/* Before p goes back to the allocator. Returns 1 when its free was recorded (its size in *size). */
static inline int lw_on_free(void *p, uint64_t *size) {
  if (!atomic_load_explicit(&lw_active, memory_order_relaxed)) return 0;
  if (lw_sample_bytes != 0 && !lw_live_set_maybe((uintptr_t)p)) return 0; /* one byte says "not sampled" */
  return lw_record_free(p, size);
}

/* A realloc whose free was recorded failed: the old block is live after all. */
void lw_record_still_live(void *p, uint64_t size);

/* Application mappings (kind mmap): every one is recorded. */
void lw_on_map(void *p, size_t len);
/* Before a range stops being mapped (munmap, or MAP_FIXED / MREMAP_FIXED over it). Returns 1 when recorded. */
int lw_on_unmap(void *addr, size_t len);

#endif
