#include "live_set.h"

#include <stdatomic.h>
#include <stddef.h>
#include <sys/mman.h>

#define SLOTS ((size_t)1 << LW_LIVE_SET_BITS)
#define TOMBSTONE ((uintptr_t)1)

static _Atomic uintptr_t *slots;
static _Atomic uint64_t *sizes;

int lw_live_set_init(void) {
  if (slots) return 0;
  void *m = mmap(NULL, SLOTS * sizeof(uintptr_t), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) return -1;
  void *z = mmap(NULL, SLOTS * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (z == MAP_FAILED) {
    munmap(m, SLOTS * sizeof(uintptr_t));
    return -1;
  }
  sizes = (_Atomic uint64_t *)z;
  slots = (_Atomic uintptr_t *)m;
  return 0;
}

void lw_live_set_clear(void) {
  /* On private anonymous memory MADV_DONTNEED gives back zero pages: an empty table. */
  if (slots) madvise((void *)slots, SLOTS * sizeof(uintptr_t), MADV_DONTNEED);
  if (sizes) madvise((void *)sizes, SLOTS * sizeof(uint64_t), MADV_DONTNEED);
}

static inline size_t home(uintptr_t addr) {
  return (size_t)(((uint64_t)addr * 0x9E3779B97F4A7C15ull) >> (64 - LW_LIVE_SET_BITS));
}

int lw_live_set_insert(uintptr_t addr, uint64_t size) {
  if (!slots || addr <= TOMBSTONE) return -1;
  size_t i = home(addr);
  for (int probe = 0; probe < LW_LIVE_SET_MAX_PROBE; probe++, i = (i + 1) & (SLOTS - 1)) {
    uintptr_t cur = atomic_load_explicit(&slots[i], memory_order_relaxed);
    while (cur == 0 || cur == TOMBSTONE) {
      if (atomic_compare_exchange_weak_explicit(&slots[i], &cur, addr, memory_order_release,
                                                memory_order_relaxed)) {
        atomic_store_explicit(&sizes[i], size, memory_order_relaxed);
        return 0;
      }
    }
  }
  return -1;
}

int lw_live_set_remove(uintptr_t addr) {
  if (!slots || addr <= TOMBSTONE) return 0;
  size_t i = home(addr);
  for (int probe = 0; probe < LW_LIVE_SET_MAX_PROBE; probe++, i = (i + 1) & (SLOTS - 1)) {
    uintptr_t cur = atomic_load_explicit(&slots[i], memory_order_acquire);
    if (cur == addr) {
      return atomic_compare_exchange_strong_explicit(&slots[i], &cur, TOMBSTONE,
                                                     memory_order_relaxed, memory_order_relaxed);
    }
    if (cur == 0) return 0;
  }
  return 0;
}

void lw_live_set_for_each(void (*fn)(uintptr_t addr, uint64_t size, void *arg), void *arg) {
  if (!slots) return;
  for (size_t i = 0; i < SLOTS; i++) {
    uintptr_t a = atomic_load_explicit(&slots[i], memory_order_acquire);
    if (a > TOMBSTONE) fn(a, atomic_load_explicit(&sizes[i], memory_order_relaxed), arg);
  }
}
