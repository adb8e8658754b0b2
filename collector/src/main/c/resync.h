/*
 * resync: after a dropped record in sampled mode, list the live sampled blocks so downstream
 * converges (BEGIN, ENTRIES..., END; docs/ring-format.md says how the streams-app applies it).
 *
 * Runs on the thread that records next once the ring is at most a quarter full, one thread at a
 * time. Entries added or removed while the list is written are settled downstream by the events
 * inside the BEGIN..END window. A list cut short by a full ring is abandoned and retried. Blocks
 * leave the live set before their FREE is written, so a resync triggered by that write never lists
 * the block just freed.
 */
#ifndef LEAKWATCH_RESYNC_H
#define LEAKWATCH_RESYNC_H

#include <stdatomic.h>

#include "shared_ring_buffer.h"

extern _Atomic int lw_resync_wanted;

static inline void lw_resync_request(void) { atomic_store_explicit(&lw_resync_wanted, 1, memory_order_relaxed); }
static inline int lw_resync_pending(void) { return atomic_load_explicit(&lw_resync_wanted, memory_order_relaxed); }
/* Writes the list if one is owed and the ring has room; returns 1 when a list was completed. */
int lw_resync_run(lw_ring *ring, uint64_t epoch);
/* The forked child: nothing owed, nobody running (the fork may have caught another thread in one). */
void lw_resync_reset(void);

#endif
