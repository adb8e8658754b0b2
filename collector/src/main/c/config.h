/*
 * config: the shim's settings, read once at start from the environment through secure_getenv (a
 * setuid or setgid program, which /etc/ld.so.preload also reaches, gets the defaults: its caller's
 * environment must not steer where it writes), and the trust check of the run directory.
 *
 *   LEAKWATCH_SAMPLE_BYTES     mean bytes between samples (default 524288; 0 = every allocation)
 *   LEAKWATCH_RUN_DIR          where rings live (default /dev/shm/leakwatch)
 *   LEAKWATCH_START_DELAY      seconds before anything is recorded (DebugDiag's warm-up)
 *   LEAKWATCH_MAX_FRAMES       stack depth limit (48, at most 64)
 *   LEAKWATCH_RING_BYTES       ring data bytes, rounded down to a power of two (8 MiB sampled, 256 MiB exact)
 *   LEAKWATCH_RING_POPULATE    1: reserve and fault in the whole ring at start, in every exec'd program;
 *                              a pid P > 1: only in a process whose parent is P (what `leakwatch run`
 *                              starts, not the children it forks or execs, which would each commit a
 *                              whole ring: 256 MiB per child in exact mode)
 *   LEAKWATCH_RING_FULL_WAIT_MS  0 (default): a full ring drops new records, counted. N > 0: a write
 *                              finding the ring full sleeps while the collector makes room, giving
 *                              up (dropping) after N ms without the collector moving: exact numbers
 *                              at the collector's pace (`leakwatch run --exact` sets 5000)
 *   LEAKWATCH_UNWIND           dwarf (default), fp, libgcc (DWARF without the rule cache) or check
 *                              (tests: both DWARF walks on every stack, compared, counts at exit)
 *   LEAKWATCH_LIVE_SET_BITS    log2 of the live-set slots (16)
 *   LEAKWATCH_ALLOCATOR_STATS_SECONDS  minimum seconds between mallinfo2 walks (60; 0 = start and exit only)
 */
#ifndef LEAKWATCH_CONFIG_H
#define LEAKWATCH_CONFIG_H

#include <stdint.h>

#include "unwinding.h"

#define LW_RUN_DIR_MAX 256

typedef struct {
  uint64_t sample_bytes;
  int max_frames;
  uint64_t ring_bytes;
  int ring_populate;              /* fault the ring in at start (in this process) */
  uint64_t ring_full_wait_ns;     /* 0: a full ring drops; else wait while the reader moves this often */
  uint64_t start_delay_ns;
  enum lw_unwinder unwinder;
  int live_set_bits;
  uint64_t allocator_stats_interval_ns;
  char run_dir[LW_RUN_DIR_MAX];
} lw_config;

void lw_config_read(lw_config *c);
/* The same settings from NAME=VALUE lines instead of the environment (an attach: the program's
 * environment was fixed when it started). */
void lw_config_read_text(lw_config *c, const char *text);

/*
 * Creates the run directory (0700) if it is missing and says whether rings may be written there: it
 * must be a directory (not a symlink) that nobody else can tamper with: owned by us or root, and not
 * writable by others unless sticky (a shared 1777 directory, like /tmp). Returns 0 when it may.
 */
int lw_config_check_run_dir(const char *dir);

#endif
