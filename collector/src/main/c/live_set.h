/*
 * live_set: the addresses of live sampled allocations, so that only their frees leave the process.
 *
 * A fixed open-addressing table of 2^bits slots of 16 bytes (address and size) in an anonymous
 * mapping: 2^16 by default (1 MiB of address space; only touched pages cost memory, and a page is
 * faulted in the first time a sample lands in it, so a small table also keeps the warm-up cheap).
 * At half full it holds 32,768 live samples: 16 GiB of live heap at the default 512 KiB sampling.
 * LEAKWATCH_LIVE_SET_BITS (10..24) sizes it for larger heaps or finer sampling. In sampled mode it holds every live
 * recorded block, so that a resync can list them after the ring overflowed; a free finds out
 * whether to look here from the block's in-band header (block_header.h), not by probing. Insert claims the first empty or tombstone slot on the probe path
 * with a CAS; remove turns the slot into a tombstone with a CAS. No lock anywhere: a free asks
 * "was this sampled?" in a handful of probes. An address is live at most once (the allocator will
 * not hand it out again before its free, and the free's remove happens before the real free), so
 * no two threads race on the same key. A probe path longer than LW_LIVE_SET_MAX_PROBE gives up:
 * the insert is counted as lost (its free will be missing downstream), never blocks.
 */
#ifndef LEAKWATCH_LIVE_SET_H
#define LEAKWATCH_LIVE_SET_H

#include <stdint.h>

#define LW_LIVE_SET_DEFAULT_BITS 16
#define LW_LIVE_SET_MAX_PROBE 64

int lw_live_set_init(int bits);
/* Forgets everything (the forked child starts a new tracking session). */
void lw_live_set_clear(void);
int lw_live_set_insert(uintptr_t addr, uint64_t size);
/* Returns 1 when addr was present (and removes it). */
int lw_live_set_remove(uintptr_t addr);
/* Calls fn for every entry present while it runs (entries added or removed meanwhile may or may
 * not be seen); size may read 0 for an entry being inserted. For the resync after an overflow. */
void lw_live_set_for_each(void (*fn)(uintptr_t addr, uint64_t size, void *arg), void *arg);

#endif
