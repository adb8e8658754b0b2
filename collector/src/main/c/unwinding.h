/*
 * unwinding: return addresses of the current thread's stack, only for recorded allocations.
 *
 * Two unwinders, chosen by LEAKWATCH_UNWIND (docs/decisions.md says when to use which):
 *   dwarf (default) a DWARF unwinder: correct for code built without frame pointers (most
 *                   distribution libraries). libunwind's unw_backtrace (it caches the unwind rules
 *                   of each return address, so repeated stacks are cheap) when libunwind.so.8 can
 *                   be loaded, otherwise libgcc's through glibc's backtrace(). Either is loaded and
 *                   warmed up in lw_unwind_init(), under the shim's re-entrancy guard.
 *   fp              the frame-pointer chain: tens of nanoseconds. Every frame pointer is checked
 *                   against the thread's stack bounds before it is read, so a frame without a frame
 *                   pointer ends the walk early (or skips that one caller), it never faults.
 * Frames inside the shim itself are dropped, so frame 0 is the caller of the allocation function.
 */
#ifndef LEAKWATCH_UNWINDING_H
#define LEAKWATCH_UNWINDING_H

#include <stdint.h>

#define LW_MAX_FRAMES 64

enum lw_unwinder { LW_UNWIND_DWARF = 0, LW_UNWIND_FP = 1 };

/* The DWARF unwinder actually in use: "libunwind" (its cached fast trace) or "libgcc". */
const char *lw_unwind_dwarf_impl(void);

void lw_unwind_init(uintptr_t self_lo, uintptr_t self_hi, enum lw_unwinder which);
/* Forgets the calling thread's cached stack bounds (after fork the child's one thread keeps them). */
void lw_unwind_thread_reset(void);
/* Fills up to max_frames addresses; sets *truncated when the stack was deeper. */
int lw_unwind(uint64_t *frames, int max_frames, int *truncated);

#endif
