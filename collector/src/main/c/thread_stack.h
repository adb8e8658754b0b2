/*
 * thread_stack: the memory a stack walk may read, for the walks that follow frame pointers (the fp
 * unwinder, and the continuation through JIT code of the DWARF one).
 *
 * Guarantees: takes no lock, allocates nothing, calls no libc function that may (the answer comes
 * from the kernel through raw system calls), and a range it gives is one readable mapping that held
 * the address asked about when it was asked.
 *
 * Why not pthread_getattr_np: it takes the thread's own lock and allocates under it (a CPU set, and
 * /proc/self/maps through stdio for the main thread). A JVM calls it on each thread it starts; when
 * that allocation was sampled and the walk asked pthread_getattr_np for the bounds, the thread waited
 * on the lock it held, for ever.
 *
 * The mapping holding the stack pointer is the stack the thread runs on: the thread's own, a
 * sigaltstack, a coroutine's. A walk reads between its own frame and the mapping's end, nothing else.
 */
#ifndef LEAKWATCH_THREAD_STACK_H
#define LEAKWATCH_THREAD_STACK_H

#include <stddef.h>
#include <stdint.h>

/* The readable mapping that holds addr, from the kernel (PROCMAP_QUERY where the kernel has it,
 * Linux 6.11+; else a scan of /proc/self/maps). 1 when found, 0 otherwise (no /proc, a sandbox). */
int lw_thread_stack_mapping(uintptr_t addr, uintptr_t *lo, uintptr_t *hi);

/* The /proc/self/maps scanner, fed any chunks of the text in order; pure, for the tests and fuzzer.
 * A line it cannot parse (hostile, truncated, too long a number) is skipped, never misread. */
struct lw_maps_scan {
  uintptr_t want;
  uint64_t start, end;
  int state, digits, readable;
  int found;
  uintptr_t lo, hi;
};
void lw_maps_scan_init(struct lw_maps_scan *s, uintptr_t want);
/* Returns 1 once the mapping holding `want` has been seen (s->lo, s->hi). */
int lw_maps_scan_feed(struct lw_maps_scan *s, const char *text, size_t n);

#endif
