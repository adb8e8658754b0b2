#include "live_set.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>

#define EMPTY ((uintptr_t)0)
#define TOMBSTONE ((uintptr_t)1)
#define INSERT_TRIES 64 /* walks of the probe path when another insert takes the chosen slot */
#define FILTER_SATURATED 255

/* Address and size side by side: an insert or a remove touches one cache line and one page. */
typedef struct {
  _Atomic uintptr_t addr;
  _Atomic uint64_t size;
} slot;

static slot *slots;
static size_t nslots;
static int bits;
static _Atomic int writer; /* one tombstone reclaim at a time */

#define FILTER_SIZE ((size_t)1 << LW_LIVE_SET_FILTER_BITS)
#define FILTER_MASK (FILTER_SIZE - 1)

/* A clear gives back only whole system pages inside the array (zero_bytes), and those lie past the
 * library's last file-backed page, in the anonymous zero-fill part of .bss, where MADV_DONTNEED
 * leaves zero pages. Page-aligned so that, with 4 KiB pages, that is all of it. */
_Atomic uint8_t lw_live_set_filter[FILTER_SIZE] __attribute__((aligned(4096)));
static uintptr_t never_skip_lo, never_skip_hi;

static void saturate_never_skip(void);

int lw_live_set_init(int table_bits) {
  if (slots) return 0;
  if (table_bits < 10) table_bits = 10;
  if (table_bits > 24) table_bits = 24;
  size_t n = (size_t)1 << table_bits;
  /* Faulted in as samples land, not populated: populating the 1 MiB default at every process start
   * cost 0.37 ms of a /bin/true's 2 ms under the shim, for a table most short processes never touch;
   * a long one pays the same 256 faults once, spread over its first samples. */
  void *m = mmap(NULL, n * sizeof(slot), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) return -1;
  bits = table_bits;
  nslots = n;
  slots = (slot *)m;
  return 0;
}

static void clear_filter(void);

void lw_live_set_clear(void) {
  int saved_errno = errno; /* the program's, in a forked child or on the thread an attach runs on */
  /* On private anonymous memory MADV_DONTNEED gives back zero pages: an empty table. */
  if (slots) madvise((void *)slots, nslots * sizeof(slot), MADV_DONTNEED);
  clear_filter();
  saturate_never_skip();
  atomic_store(&writer, 0);
  errno = saved_errno;
}

static inline size_t home(uintptr_t addr) {
  return (size_t)(((uint64_t)addr * 0x9E3779B97F4A7C15ull) >> (64 - bits));
}

static inline _Atomic uint8_t *filter_of(uintptr_t addr) {
  return &lw_live_set_filter[(addr >> LW_LIVE_SET_PAGE_SHIFT) & (((size_t)1 << LW_LIVE_SET_FILTER_BITS) - 1)];
}

/* A saturated byte is never decremented (filter_add), and a clear zeroes around these: they stay
 * non-zero. */
static void saturate_never_skip(void) {
  uintptr_t page = (uintptr_t)1 << LW_LIVE_SET_PAGE_SHIFT;
  for (uintptr_t a = never_skip_lo & ~(page - 1); a < never_skip_hi; a += page)
    atomic_store_explicit(filter_of(a), FILTER_SATURATED, memory_order_release);
}

/* Zeroes filter bytes [lo, hi): the whole system pages inside by giving them back (zero pages
 * again: a clear costs no memory, however much of the filter the process had touched), the bytes
 * at the ends one at a time, and all of them so if the kernel refuses. */
static void zero_bytes(size_t lo, size_t hi) {
  static size_t page;
  if (!page) page = (size_t)sysconf(_SC_PAGESIZE);
  uintptr_t base = (uintptr_t)lw_live_set_filter;
  size_t a = hi, b = hi; /* [a, b): given back */
  if (page && (page & (page - 1)) == 0) {
    size_t pa = (size_t)(((base + lo + page - 1) & ~(uintptr_t)(page - 1)) - base);
    size_t pb = (size_t)(((base + hi) & ~(uintptr_t)(page - 1)) - base);
    if (pa < pb && madvise((void *)(base + pa), pb - pa, MADV_DONTNEED) == 0) {
      a = pa;
      b = pb;
    }
  }
  for (size_t i = lo; i < a; i++) atomic_store_explicit(&lw_live_set_filter[i], 0, memory_order_relaxed);
  for (size_t i = b; i < hi; i++) atomic_store_explicit(&lw_live_set_filter[i], 0, memory_order_relaxed);
}

/* Zeroes the filter but its never-skip bytes, which stay saturated throughout: a free running beside
 * a clear (an attach, a forked child's first moments) must never find an arena block's byte zero.
 * The never-skip bytes are one run, which may wrap around the filter's end, so the rest is one or two
 * ranges. */
static void clear_filter(void) {
  if (never_skip_hi <= never_skip_lo) {
    zero_bytes(0, FILTER_SIZE);
    return;
  }
  size_t first = (never_skip_lo >> LW_LIVE_SET_PAGE_SHIFT) & FILTER_MASK;
  size_t span = ((never_skip_hi - 1) >> LW_LIVE_SET_PAGE_SHIFT) - (never_skip_lo >> LW_LIVE_SET_PAGE_SHIFT);
  if (span >= FILTER_MASK) return; /* every byte is the range's */
  size_t last = first + span;      /* inclusive; past FILTER_MASK when the run wraps */
  if (last <= FILTER_MASK) {
    zero_bytes(0, first);
    zero_bytes(last + 1, FILTER_SIZE);
  } else {
    zero_bytes(last - FILTER_MASK, first);
  }
}

void lw_live_set_skip_none(void) {
  for (size_t i = 0; i < FILTER_SIZE; i++)
    atomic_store_explicit(&lw_live_set_filter[i], FILTER_SATURATED, memory_order_relaxed);
  atomic_thread_fence(memory_order_seq_cst);
}

void lw_live_set_never_skip(uintptr_t lo, uintptr_t hi) {
  never_skip_lo = lo;
  never_skip_hi = hi;
  saturate_never_skip();
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


/* After claiming slot `pos` for addr: a reclaim may have emptied part of the path from addr's home
 * meanwhile (it saw the slot after its run of tombstones empty just before this insert filled it).
 * Either the reclaim sees this entry when it re-checks that slot and puts its tombstones back, or
 * this check sees the empty slot and moves the entry there: both sides store, then load (seq_cst). */
static size_t settle(uintptr_t addr, uint64_t size, size_t h, size_t pos) {
  for (size_t j = h; j != pos; j = (j + 1) & (nslots - 1)) {
    uintptr_t cur = atomic_load(&slots[j].addr);
    if (cur != EMPTY) continue;
    if (atomic_compare_exchange_strong(&slots[j].addr, &cur, addr)) {
      atomic_store(&slots[j].size, size);
      atomic_store(&slots[pos].addr, TOMBSTONE);
      return j;
    }
    j = (j - 1) & (nslots - 1); /* lost the slot to someone: look at it again */
  }
  return pos;
}

enum lw_live_insert lw_live_set_insert(uintptr_t addr, uint64_t size, uint64_t *old_size) {
  if (!slots || addr <= TOMBSTONE) return LW_LIVE_FULL;
  size_t h = home(addr);
  for (int attempt = 0; attempt < INSERT_TRIES; attempt++) {
    size_t i = h;
    long free_slot = -1;
    uintptr_t free_was = EMPTY;
    for (int probe = 0; probe < LW_LIVE_SET_MAX_PROBE; probe++, i = (i + 1) & (nslots - 1)) {
      uintptr_t cur = atomic_load(&slots[i].addr);
      if (cur == addr) { /* listed already: its block went back to the allocator behind our back */
        if (old_size) *old_size = atomic_load_explicit(&slots[i].size, memory_order_relaxed);
        atomic_store_explicit(&slots[i].size, size, memory_order_relaxed);
        return LW_LIVE_REPLACED;
      }
      if ((cur == TOMBSTONE || cur == EMPTY) && free_slot < 0) {
        free_slot = (long)i;
        free_was = cur;
      }
      if (cur == EMPTY) break;
    }
    if (free_slot < 0) return LW_LIVE_FULL;
    if (!atomic_compare_exchange_strong(&slots[free_slot].addr, &free_was, addr)) continue; /* taken: walk again */
    atomic_store_explicit(&slots[free_slot].size, size, memory_order_relaxed);
    settle(addr, size, h, (size_t)free_slot);
    filter_add(addr, +1);
    return LW_LIVE_INSERTED;
  }
  return LW_LIVE_BUSY;
}

/* Turns the run of tombstones around slot i back into empty slots when the run ends at an empty slot:
 * a run of tombstones followed by an empty slot lies on no listed key's probe path. One reclaimer at a
 * time (a try-lock among reclaimers; lookups, removals and inserts take none). An insert may fill that
 * empty slot meanwhile: the slot is looked at again after the run was emptied, and if it is no longer
 * empty the tombstones go back (settle() on the insert's side covers the other order). */
static void reclaim(size_t i) {
  /* Another reclaim runs (they take microseconds): try a bounded number of times, then leave the
   * tombstones to a later removal nearby. */
  for (int tries = 0;; tries++) {
    int idle = 0;
    if (atomic_compare_exchange_weak(&writer, &idle, 1)) break;
    if (tries == 256) return;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  size_t end = i;
  int probe = 0;
  while (probe++ < LW_LIVE_SET_MAX_PROBE && atomic_load(&slots[(end + 1) & (nslots - 1)].addr) == TOMBSTONE)
    end = (end + 1) & (nslots - 1);
  size_t after = (end + 1) & (nslots - 1);
  if (atomic_load(&slots[after].addr) == EMPTY) {
    size_t k = end, n = 0;
    for (; n < nslots; n++, k = (k - 1) & (nslots - 1)) {
      uintptr_t t = TOMBSTONE;
      if (!atomic_compare_exchange_strong(&slots[k].addr, &t, EMPTY)) break;
    }
    if (atomic_load(&slots[after].addr) != EMPTY) { /* an insert landed after the run: restore it */
      for (size_t j = (k + 1) & (nslots - 1); n > 0; n--, j = (j + 1) & (nslots - 1)) {
        uintptr_t e = EMPTY;
        atomic_compare_exchange_strong(&slots[j].addr, &e, TOMBSTONE);
      }
    }
  }
  atomic_store(&writer, 0);
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
