/*
 * unwind_rules: x86-64 DWARF call-frame rules by return address, cached, and the stack walk that
 * uses them (the exact-mode unwinder's fast path).
 *
 * Why: libgcc's _Unwind_Backtrace finds the FDE, parses its CIE and runs its CFA program again for
 * every frame of every stack; exact mode records every allocation, and that doubled its cost after
 * libunwind (which caches) was dropped for safety. A frame's rule (where its CFA is, whether the
 * caller's rbp was saved and where) depends only on its pc, so it is computed once and cached.
 *
 * Guarantees:
 *   - Never blocks: each cache entry is a seqlock; a reader that meets a write in progress misses,
 *     a writer that finds the entry busy does not cache. No lock, no descriptor, no allocation (the
 *     table is one anonymous mapping made at start).
 *   - Never reads memory it has not bounds-checked: the stack only inside the calling thread's
 *     stack bounds (given by the caller), the unwind tables only inside the extents of the FDE and
 *     CIE that glibc's _dl_find_object points at (the loaded object's own read-only tables).
 *   - Whatever it cannot express (a CFA by DWARF expression, a signal frame, a register rule other
 *     than "saved at CFA+n" for rbp and the return address, a 64-bit DWARF length, a search table
 *     encoding other than the one every toolchain emits) is "unsupported", and the caller takes
 *     libgcc's walk for that stack. The walk stops (not falls back) at a pc in no object with unwind
 *     tables (JIT code), as libgcc does.
 * Limits: a library unloaded and another mapped at the same addresses would find the first one's
 * rules (a wrong stack, never a bad read: every read is bounds-checked).
 */
#ifndef LEAKWATCH_UNWIND_RULES_H
#define LEAKWATCH_UNWIND_RULES_H

#include <stdint.h>

/* Makes the cache (call once, at start, under the shim's guard). Returns 0 when the fast path is
 * available (x86-64 with glibc's _dl_find_object), -1 otherwise. */
int lw_unwind_rules_init(void);

/* Where a walk may start instead of at its own frame: the state at a call into the shim, taken by
 * the callee (pc: its return address, sp: its CFA, the caller's stack pointer once it returns, bp:
 * rbp at the call). Starting there skips the shim's own frames below the call (most of exact mode's
 * walk: the entry point's stack is a handful of frames, the shim's own four). */
typedef struct {
  uintptr_t pc, sp, bp;
} lw_walk_start;

/* Walks the calling thread's stack from `from` when given, else from the caller of this function.
 * Returns the number of frames written (after skipping those with pc in [skip_lo, skip_hi) at the
 * top), or -1 when some frame's rule is unsupported or a read would leave [stack_lo, stack_hi):
 * the caller then walks with libgcc. *last_bp is the rbp of the last frame (to walk on through JIT
 * code by frame pointers). */
int lw_unwind_rules_walk(const lw_walk_start *from, uint64_t *frames, int max_frames, int *truncated, uintptr_t skip_lo,
                         uintptr_t skip_hi, uintptr_t stack_lo, uintptr_t stack_hi, uintptr_t *last_bp);

/* Rules parsed for one pc (for tests): 1 and the rule's fields when supported, 0 when unsupported,
 * -1 when the pc is in no object with unwind tables. */
int lw_unwind_rules_describe(uintptr_t pc, int *cfa_is_rbp, int32_t *cfa_offset, int *rbp_saved, int32_t *rbp_offset);

/* Rules computed (cache misses) and, of those, unsupported ones (for tests). */
void lw_unwind_rules_counts(uint64_t *misses, uint64_t *unsupported);

#endif
