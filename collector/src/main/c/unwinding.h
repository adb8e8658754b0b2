/*
 * unwinding: return addresses of the current thread's stack, only for recorded allocations.
 *
 * v1 uses libgcc's DWARF unwinder through glibc's backtrace(): correct for code built without frame
 * pointers (most distribution libraries), about a microsecond per stack. libgcc_s is loaded and
 * its first-use allocations happen in lw_unwind_init(), under the shim's re-entrancy guard, so the
 * unwinder never allocates on a hot path. Frames inside the shim itself are dropped, so frame 0 is
 * the caller of the allocation function.
 */
#ifndef LEAKWATCH_UNWINDING_H
#define LEAKWATCH_UNWINDING_H

#include <stdint.h>

#define LW_MAX_FRAMES 64

void lw_unwind_init(uintptr_t self_lo, uintptr_t self_hi);
/* Fills up to max_frames addresses; sets *truncated when the stack was deeper. */
int lw_unwind(uint64_t *frames, int max_frames, int *truncated);

#endif
