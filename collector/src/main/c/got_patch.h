/*
 * got_patch: routes a running process's calls to the allocator through the shim by rewriting the
 * GOT slots (R_X86_64_JUMP_SLOT and R_X86_64_GLOB_DAT) that name them in every loaded object, and
 * puts the old values back on detach. This is how an attached shim, loaded by dlopen after the
 * program started and so behind libc in symbol lookup, gets the calls a preloaded shim gets by
 * coming first.
 *
 * Guarantees:
 *   - A slot is only ever written with one aligned 8-byte store: a thread calling through it at that
 *     moment gets the old function or the new one, both valid.
 *   - Read-only slots (PT_GNU_RELRO after relocation) are made writable for that store and read-only
 *     again.
 *   - Restore writes back only slots that still hold the hook (someone else may have rewritten it
 *     since) and only in objects still loaded at the same base (a dlclosed object's slots are gone).
 *   - No allocation: tables live in an mmap'd area of fixed size; what does not fit is counted, not
 *     patched.
 * Not routed: calls made before the attach through pointers taken then (for example a function
 * pointer to malloc stored by the program), the loader's own allocations (ld.so calls the malloc it
 * looked up at start), and libc's internal calls that bypass its GOT.
 */
#ifndef LEAKWATCH_GOT_PATCH_H
#define LEAKWATCH_GOT_PATCH_H

#include <stdint.h>

typedef struct {
  const char *name;
  void *hook;
} lw_got_hook;

typedef struct {
  uint32_t objects; /* objects whose slots were examined */
  uint32_t slots;   /* slots rewritten */
  uint32_t skipped; /* slots that did not fit the table (not rewritten) */
} lw_got_stats;

/* Rewrites the slots of every loaded object not patched yet, except the one containing `self` and
 * the loader. `hooks` must stay valid until lw_got_restore_all. Returns the stats so far. */
lw_got_stats lw_got_patch_new(const lw_got_hook *hooks, int nhooks, uintptr_t self);

/* Puts every rewritten slot back; forgets the patched objects. Returns the slots restored. */
uint32_t lw_got_restore_all(void);

#endif
