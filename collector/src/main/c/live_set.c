#include "live_set.h"

#include <stdatomic.h>
#include <stddef.h>
#include <sys/mman.h>

#define EMPTY ((uintptr_t)0)
#define TOMBSTONE ((uintptr_t)1)
#define INSERT_TRIES 256
#define FILTER_SATURATED 255

/* Address and size side by side: an insert or a remove touches one cache line and one page. */
typedef struct {
  _Atomic uintptr_t addr;
  _Atomic uint64_t size;
} slot;

static slot *slots;
static size_t nslots;
static int bits;
static _Atomic int writer; /* try-lock of inserts and tombstone reclaiming */
_Atomic uint8_t *lw_live_set_filter;

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
  /* The filter is touched only where heap addresses fall: its pages are faulted in as they are needed. */
  void *f = mmap(NULL, (size_t)1 << LW_LIVE_SET_FILTER_BITS, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (f == MAP_FAILED) {
    munmap(m, n * sizeof(slot));
    return -1;
  }
  bits = table_bits;
  nslots = n;
  slots = (slot *)m;
  lw_live_set_filter = (_Atomic uint8_t *)f;
  return 0;
}

void lw_live_set_clear(void) {
  /* On private anonymous memory MADV_DONTNEED gives back zero pages: an empty table. */
  if (slots) madvise((void *)slots, nslots * sizeof(slot), MADV_DONTNEED);
  if (lw_live_set_filter) madvise((void *)lw_live_set_filter, (size_t)1 << LW_LIVE_SET_FILTER_BITS, MADV_DONTNEED);
  atomic_store(&writer, 0);
}

static inline size_t home(uintptr_t addr) {
  return (size_t)(((uint64_t)addr * 0x9E3779B97F4A7C15ull) >> (64 - bits));
}

static inline _Atomic uint8_t *filter_of(uintptr_t addr) {
  return &lw_live_set_filter[(addr >> LW_LIVE_SET_PAGE_SHIFT) & (((size_t)1 << LW_LIVE_SET_FILTER_BITS) - 1)];
}

static void filter_add(uintptr_t addr, int delta) {
  _Atomic uint8_t *c = filter_of(addr);
  uint8_t cur = atomic_load_explicit(c, memory_order_relaxed);
  /* A saturated counter stays saturated (its page only costs table probes from then on). */
  for (int i = 0; i < 64 && cur != FILTER_SATURATED; i++) {
    if (delta < 0 && cur == 0) return;
    if (atomic_compare_exchange_weak_explicit(c, &cur, (uint8_t)(cur + delta), memory_order_release,
                                              memory_order_relaxed))
      return;
  }
  if (delta > 0) atomic_store_explicit(c, FILTER_SATURATED, memory_order_release);
}

static int try_lock(int tries) {
  for (int i = 0; i < tries; i++) {
    int idle = 0;
    if (atomic_load_explicit(&writer, memory_order_relaxed) == 0 &&
        atomic_compare_exchange_weak_explicit(&writer, &idle, 1, memory_order_acquire, memory_order_relaxed))
      return 1;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  return 0;
}

static void unlock(void) { atomic_store_explicit(&writer, 0, memory_order_release); }

enum lw_live_insert lw_live_set_insert(uintptr_t addr, uint64_t size, uint64_t *old_size) {
  if (!slots || addr <= TOMBSTONE) return LW_LIVE_FULL;
  if (!try_lock(INSERT_TRIES)) return LW_LIVE_BUSY;
  size_t i = home(addr);
  long free_slot = -1;
  enum lw_live_insert result = LW_LIVE_FULL;
  for (int probe = 0; probe < LW_LIVE_SET_MAX_PROBE; probe++, i = (i + 1) & (nslots - 1)) {
    uintptr_t cur = atomic_load_explicit(&slots[i].addr, memory_order_relaxed);
    if (cur == addr) { /* listed already: its block went back to the allocator behind our back */
      if (old_size) *old_size = atomic_load_explicit(&slots[i].size, memory_order_relaxed);
      atomic_store_explicit(&slots[i].size, size, memory_order_relaxed);
      unlock();
      return LW_LIVE_REPLACED;
    }
    if (cur == TOMBSTONE && free_slot < 0) free_slot = (long)i;
    if (cur == EMPTY) {
      if (free_slot < 0) free_slot = (long)i;
      break;
    }
  }
  if (free_slot >= 0) {
    filter_add(addr, +1); /* before the entry is visible: the filter never says "no" for a listed block */
    atomic_store_explicit(&slots[free_slot].size, size, memory_order_relaxed);
    atomic_store_explicit(&slots[free_slot].addr, addr, memory_order_release);
    result = LW_LIVE_INSERTED;
  }
  unlock();
  return result;
}

/* Turns the run of tombstones around slot i back into empty slots when the run ends at an empty slot.
 * Safe against lookups without a lock: a listed key's probe path never contains an empty slot, so a
 * run of tombstones followed by an empty slot lies on no listed key's path. Inserts, which could fill
 * that empty slot meanwhile, are excluded by the writer lock. */
static void reclaim(size_t i) {
  if (!try_lock(16)) return; /* busy: a later removal in this cluster will do it */
  size_t end = i;
  int probe = 0;
  while (probe++ < LW_LIVE_SET_MAX_PROBE &&
         atomic_load_explicit(&slots[(end + 1) & (nslots - 1)].addr, memory_order_acquire) == TOMBSTONE)
    end = (end + 1) & (nslots - 1);
  if (atomic_load_explicit(&slots[(end + 1) & (nslots - 1)].addr, memory_order_acquire) == EMPTY) {
    for (size_t n = 0; n < nslots; n++) {
      uintptr_t t = TOMBSTONE;
      if (!atomic_compare_exchange_strong_explicit(&slots[end].addr, &t, EMPTY, memory_order_release,
                                                   memory_order_relaxed))
        break;
      end = (end - 1) & (nslots - 1);
    }
  }
  unlock();
}

int lw_live_set_remove(uintptr_t addr, uint64_t *size) {
  if (!slots || addr <= TOMBSTONE) return 0;
  size_t i = home(addr);
  for (int probe = 0; probe < LW_LIVE_SET_MAX_PROBE; probe++, i = (i + 1) & (nslots - 1)) {
    uintptr_t cur = atomic_load_explicit(&slots[i].addr, memory_order_acquire);
    if (cur == addr) {
      uint64_t s = atomic_load_explicit(&slots[i].size, memory_order_relaxed);
      if (!atomic_compare_exchange_strong_explicit(&slots[i].addr, &cur, TOMBSTONE, memory_order_relaxed,
                                                   memory_order_relaxed))
        return 0;
      if (size) *size = s;
      filter_add(addr, -1);
      reclaim(i);
      return 1;
    }
    if (cur == EMPTY) return 0;
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

size_t lw_live_set_tombstones(void) {
  size_t n = 0;
  for (size_t i = 0; slots && i < nslots; i++)
    if (atomic_load_explicit(&slots[i].addr, memory_order_relaxed) == TOMBSTONE) n++;
  return n;
}
