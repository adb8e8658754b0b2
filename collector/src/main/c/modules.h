/*
 * modules: MODULE records, so the collector can name frames even after the process is gone.
 *
 * The shim does not hook dlopen (glibc picks RUNPATH, $ORIGIN and the namespace from the caller's
 * return address, which would become the shim's). Modules are written at start, at exit, and when a
 * recorded stack's first frames fall in no module written yet (a library loaded since: at most every
 * 100 ms, never in a forked child before exec); the collector also names frames from /proc/PID/maps
 * while the process lives. Each module is written once per ring: the table of those written also lets a forked child
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
/* Whether pc lies in a module written so far (no lock; see modules.c). */
int lw_modules_contains(uintptr_t pc);
/* The address range of the loaded object that contains `probe`. Returns 0 when found. */
int lw_modules_range_of(uintptr_t probe, uintptr_t *lo, uintptr_t *hi);

#endif
