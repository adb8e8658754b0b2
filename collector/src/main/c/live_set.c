#include "live_set.h"

#include <stdatomic.h>
#include <stddef.h>
#include <sys/mman.h>

#define TOMBSTONE ((uintptr_t)1)

/* Address and size side by side: an insert or a remove touches one cache line and one page. */
typedef struct {
  _Atomic uintptr_t addr;
  _Atomic uint64_t size;
} slot;

static slot *slots;
static size_t nslots;
static int bits;

int lw_live_set_init(int table_bits) {
  if (slots) return 0;
  if (table_bits < 10) table_bits = 10;
  if (table_bits > 24) table_bits = 24;
  size_t n = (size_t)1 << table_bits;
  /* Populated up front (1 MiB by default): a page fault in the middle of a sampled malloc costs more
   * than the sample itself, and the first few thousand samples would each take one. */
  int populate = table_bits <= 18 ? MAP_POPULATE : MAP_NORESERVE;
  void *m = mmap(NULL, n * sizeof(slot), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | populate, -1, 0);
  if (m == MAP_FAILED) return -1;
  bits = table_bits;
  nslots = n;
  slots = (slot *)m;
  return 0;
}

void lw_live_set_clear(void) {
  /* On private anonymous memory MADV_DONTNEED gives back zero pages: an empty table. */
  if (slots) madvise((void *)slots, nslots * sizeof(slot), MADV_DONTNEED);
}

static inline size_t home(uintptr_t addr) {
  return (size_t)(((uint64_t)addr * 0x9E3779B97F4A7C15ull) >> (64 - bits));
}

int lw_live_set_insert(uintptr_t addr, uint64_t size) {
  if (!slots || addr <= TOMBSTONE) return -1;
  size_t i = home(addr);
  for (int probe = 0; probe < LW_LIVE_SET_MAX_PROBE; probe++, i = (i + 1) & (nslots - 1)) {
    uintptr_t cur = atomic_load_explicit(&slots[i].addr, memory_order_relaxed);
    while (cur == 0 || cur == TOMBSTONE) {
      if (atomic_compare_exchange_weak_explicit(&slots[i].addr, &cur, addr, memory_order_release,
                                                memory_order_relaxed)) {
        atomic_store_explicit(&slots[i].size, size, memory_order_relaxed);
        return 0;
      }
    }
  }
  return -1;
}

int lw_live_set_remove(uintptr_t addr) {
  if (!slots || addr <= TOMBSTONE) return 0;
  size_t i = home(addr);
  for (int probe = 0; probe < LW_LIVE_SET_MAX_PROBE; probe++, i = (i + 1) & (nslots - 1)) {
    uintptr_t cur = atomic_load_explicit(&slots[i].addr, memory_order_acquire);
    if (cur == addr) {
      return atomic_compare_exchange_strong_explicit(&slots[i].addr, &cur, TOMBSTONE,
                                                     memory_order_relaxed, memory_order_relaxed);
    }
    if (cur == 0) return 0;
  }
  return 0;
}

void lw_live_set_for_each(void (*fn)(uintptr_t addr, uint64_t size, void *arg), void *arg) {
  if (!slots) return;
  for (size_t i = 0; i < nslots; i++) {
    uintptr_t a = atomic_load_explicit(&slots[i].addr, memory_order_acquire);
    if (a > TOMBSTONE) fn(a, atomic_load_explicit(&slots[i].size, memory_order_relaxed), arg);
  }
}
