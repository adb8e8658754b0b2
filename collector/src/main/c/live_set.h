/*
 * live_set: the addresses of live sampled allocations, so that only their frees leave the process.
 *
 * Guarantees
 *   - Sampled mode lists every live recorded block with its size here, and nowhere else: blocks are
 *     handed out exactly as the real allocator made them (no in-band header), so glibc's own free,
 *     realloc and malloc_usable_size stay right for callers that bypass the shim (ctypes, dlsym on a
 *     libc handle, RTLD_DEEPBIND, __libc_free).
 *   - "Was this block sampled?" is answered for most frees by one byte: lw_live_set_maybe() reads a
 *     counter per 4 KiB page of address space (hashed into 256 KiB), non-zero while a listed block
 *     starts in a page that maps there. Zero is certain; non-zero sends the free to the table.
 *   - Nothing waits: lookups, removals and inserts are lock-free (an insert that keeps losing its
 *     slot to other inserts gives up after a bounded number of walks: live_set_busy); reclaiming
 *     tombstones is done by one removal at a time, and others skip it.
 *   - Tombstones do not accumulate: a removal whose slot is followed by an empty one turns the run of
 *     tombstones before it back into empty slots, so an unsampled free probes a short path forever.
 *
 * Table: 2^bits slots of 16 bytes (address, size), open addressing, linear probing, in an anonymous
 * mapping (2^16 by default: 1 MiB, 32,768 live samples at half load = 16 GiB of live heap at the
 * default 512 KiB sampling; LEAKWATCH_LIVE_SET_BITS 10..24). A probe path longer than
 * LW_LIVE_SET_MAX_PROBE gives up: the insert is counted as lost, never blocks.
 */
#ifndef LEAKWATCH_LIVE_SET_H
#define LEAKWATCH_LIVE_SET_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define LW_LIVE_SET_DEFAULT_BITS 16
#define LW_LIVE_SET_MAX_PROBE 64
#define LW_LIVE_SET_FILTER_BITS 18
#define LW_LIVE_SET_PAGE_SHIFT 12

enum lw_live_insert { LW_LIVE_INSERTED = 0, LW_LIVE_REPLACED = 1, LW_LIVE_FULL = -1, LW_LIVE_BUSY = -2 };

int lw_live_set_init(int bits);
/* Forgets everything (the forked child starts a new tracking session): the table, and the filter
 * but its never-skip bytes. */
void lw_live_set_clear(void);
/* Saturates every filter byte, so that no free is skipped on it: exact mode (which records every
 * free and keeps no list), and the moments an attach changes the mode. A clear undoes it. */
void lw_live_set_skip_none(void);
/* Marks [lo, hi) so that a free there is never skipped on the filter: the shim's bootstrap arena,
 * whose blocks the real free must never see, is told apart in free's slow half only, so its pages'
 * filter bytes stay saturated from now on, a clear included (it zeroes the filter around them).
 * Needs nothing set up first (the filter is static). */
void lw_live_set_never_skip(uintptr_t lo, uintptr_t hi);
/* LW_LIVE_REPLACED: addr was listed already, so its earlier block was released without the shim
 * seeing it; *old_size gets that block's size and the entry now describes the new block. */
enum lw_live_insert lw_live_set_insert(uintptr_t addr, uint64_t size, uint64_t *old_size);
/* Returns 1 when addr was present (and removes it), with its size in *size when size is not NULL. */
int lw_live_set_remove(uintptr_t addr, uint64_t *size);
/* Calls fn for every entry present while it runs (entries added or removed meanwhile may or may
 * not be seen); size may read 0 for an entry being inserted. For the resync after an overflow. */
void lw_live_set_for_each(void (*fn)(uintptr_t addr, uint64_t size, void *arg), void *arg);
/* Slots holding a tombstone (tests). */
size_t lw_live_set_tombstones(void);

/* A static array (zero pages in .bss until a byte is written), not a mapping behind a pointer: free's
 * fast path reads it with no pointer to load and test (two instructions fewer a free), and it is
 * there before anything is set up. All zero, it skips every free, which is right until recording
 * starts: nothing is listed, and the bootstrap arena's bytes are saturated before its first block is
 * handed out (lw_live_set_never_skip). */
extern __attribute__((visibility("hidden"))) _Atomic uint8_t lw_live_set_filter[(size_t)1 << LW_LIVE_SET_FILTER_BITS];

/* 0: addr is certainly not listed. 1: it may be. */
static inline int lw_live_set_maybe(uintptr_t addr) {
  size_t i = (addr >> LW_LIVE_SET_PAGE_SHIFT) & (((size_t)1 << LW_LIVE_SET_FILTER_BITS) - 1);
  return atomic_load_explicit(&lw_live_set_filter[i], memory_order_relaxed) != 0;
}

#endif
