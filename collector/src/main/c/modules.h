/*
 * modules: MODULE records, so the collector can name frames even after the process is gone.
 *
 * The shim does not hook dlopen (glibc picks RUNPATH, $ORIGIN and the namespace from the caller's
 * return address, which would become the shim's). Modules are written at start and at exit; the
 * collector names frames of libraries loaded in between from /proc/PID/maps while the process
 * lives. Each module is written once per ring: the table of those written also lets a forked child
 * write them into its new ring without calling dl_iterate_phdr (whose lock glibc does not reset at
 * fork: another parent thread may have held it).
 */
#ifndef LEAKWATCH_MODULES_H
#define LEAKWATCH_MODULES_H

#include <stdint.h>

#include "shared_ring_buffer.h"

/* Walks the loaded objects (dl_iterate_phdr) and writes those not written yet. */
void lw_modules_write_new(lw_ring *ring);
/* Writes every module the table holds (the forked child's new ring). Takes no lock. */
void lw_modules_write_known(lw_ring *ring);
/* The address range of the loaded object that contains `probe`. Returns 0 when found. */
int lw_modules_range_of(uintptr_t probe, uintptr_t *lo, uintptr_t *hi);

#endif
