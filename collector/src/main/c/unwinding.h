/*
 * unwinding: return addresses of the current thread's stack, only for recorded allocations.
 *
 * Two unwinders, chosen by LEAKWATCH_UNWIND (docs/decisions.md says when to use which):
 *   dwarf (default) DWARF call-frame information: correct for code built without frame pointers
 *                   (most distribution libraries). Each frame's rule is parsed once and cached by
 *                   pc (unwind_rules.h); a stack with a frame the cache cannot express (a signal
 *                   frame, a CFA by expression) is walked by libgcc's _Unwind_Backtrace, which
 *                   finds unwind tables through
 *                   glibc's _dl_find_object (glibc 2.35+), which takes no lock, so it is also safe
 *                   in a forked child whose parent had other threads. It opens no descriptor and
 *                   keeps no global lock (libunwind, used before, kept a pipe open in the target
 *                   and a cache behind a lock that a fork could leave held).
 *   fp              the frame-pointer chain: tens of nanoseconds. Every frame pointer is checked
 *                   against the thread's stack bounds before it is read, so a frame without a frame
 *                   pointer ends the walk early (or skips that one caller), it never faults.
 * Where glibc lacks _dl_find_object, a forked child (until it execs) walks frame pointers: libgcc
 * would fall back to dl_iterate_phdr, whose lock glibc does not reset at fork.
 * Frames inside the shim itself are dropped, so frame 0 is the caller of the allocation function.
 */
#ifndef LEAKWATCH_UNWINDING_H
#define LEAKWATCH_UNWINDING_H

#include <stdint.h>

#include "unwind_rules.h"

#define LW_MAX_FRAMES 64

enum lw_unwinder { LW_UNWIND_DWARF = 0, LW_UNWIND_FP = 1, LW_UNWIND_LIBGCC = 2, LW_UNWIND_CHECK = 3 };

void lw_unwind_init(uintptr_t self_lo, uintptr_t self_hi, enum lw_unwinder which);
/* In a forked child: forgets the calling thread's cached stack bounds and, where the DWARF unwinder
 * is not fork-safe, switches to frame pointers. Takes no lock. */
void lw_unwind_after_fork(void);
/* The unwinder in use: "dwarf", "fp", "libgcc" or "check". */
const char *lw_unwind_name(void);
/* Fills up to max_frames addresses; sets *truncated when the stack was deeper. */
int lw_unwind(uint64_t *frames, int max_frames, int *truncated);
/* The same, the DWARF walks starting at `from` (a call into the shim, see unwind_rules.h; NULL: here).
 * The frames are the same either way: the shim's own are never reported. */
int lw_unwind_from(const lw_walk_start *from, uint64_t *frames, int max_frames, int *truncated);
/* In check mode: writes to stderr how many stacks both DWARF walks saw and how many differed. */
void lw_unwind_report(void);

#endif
