/* wire_layout: prints every size, offset and number of the ring's wire format from the C headers, as
 * NAME=VALUE lines. RingLayoutTest compares them with RingLayout.java, so the two cannot drift. */
#include <stddef.h>
#include <stdio.h>

#include "shared_ring_buffer.h"
#include "unwinding.h"
#include "wire_protocol.h"

#define P(name, value) printf("%s=%llu\n", name, (unsigned long long)(value))
#define STAT(name, field) P(name, (offsetof(lw_ring_stats, field) / 8))

int main(void) {
  P("HEADER_SIZE", LW_RING_HEADER_SIZE);
  P("MAX_RECORD", LW_RING_MAX_RECORD);
  P("VERSION", LW_RING_VERSION);
  P("OFF_CAPACITY", offsetof(lw_ring_header, capacity));
  P("OFF_PID", offsetof(lw_ring_header, pid));
  P("OFF_PPID", offsetof(lw_ring_header, ppid));
  P("OFF_START_TIME_NS", offsetof(lw_ring_header, start_time_ns));
  P("OFF_SAMPLE_BYTES", offsetof(lw_ring_header, sample_bytes));
  P("OFF_PROC_START_TICKS", offsetof(lw_ring_header, proc_start_ticks));
  P("OFF_FLAGS", offsetof(lw_ring_header, flags));
  P("OFF_CMDLINE_LEN", offsetof(lw_ring_header, cmdline_len));
  P("OFF_WRITE_POS", offsetof(lw_ring_header, write_pos));
  P("OFF_READ_POS", offsetof(lw_ring_header, read_pos));
  P("OFF_CONSUMED_POS", offsetof(lw_ring_header, consumed_pos));
  P("OFF_STATS", offsetof(lw_ring_header, stats));
  P("OFF_CONTROL", offsetof(lw_ring_header, control));
  P("CMDLINE_OFFSET", LW_RING_CMDLINE_OFFSET);
  STAT("STAT_RECORDS_WRITTEN", records_written);
  STAT("STAT_DROPPED_FULL", records_dropped_full);
  STAT("STAT_BYTES_DROPPED_FULL", bytes_dropped_full);
  STAT("STAT_DROPPED_OVERSIZE", records_dropped_oversize);
  STAT("STAT_LIVE_SET_FULL", live_set_full);
  STAT("STAT_REENTRANT", reentrant_calls);
  STAT("STAT_STACKS_TRUNCATED", stacks_truncated);
  STAT("STAT_CORRUPT_POSITIONS", corrupt_positions);
  STAT("STAT_BOOTSTRAP", bootstrap_allocations);
  STAT("STAT_RESYNCS_COMPLETED", resyncs_completed);
  STAT("STAT_RESYNCS_ABANDONED", resyncs_abandoned);
  STAT("STAT_DROPPED_CONTENTION", records_dropped_contention);
  STAT("STAT_DROPPED_UNRESERVED", records_dropped_unreserved);
  STAT("STAT_FREES_REENTRANT", frees_reentrant);
  STAT("STAT_FREED_ELSEWHERE", freed_elsewhere);
  STAT("STAT_LIVE_SET_BUSY", live_set_busy);
  STAT("STAT_FULL_WAITS", full_waits);
  STAT("STAT_FULL_WAIT_NS", full_wait_ns);
  P("FLAG_EXITED", LW_FLAG_EXITED);
  P("CONTROL_DORMANT", LW_CONTROL_DORMANT);
  P("TYPE_PENDING", LW_REC_PENDING);
  P("TYPE_ALLOC", LW_REC_ALLOC);
  P("TYPE_FREE", LW_REC_FREE);
  P("TYPE_MODULE", LW_REC_MODULE);
  P("TYPE_EXIT", LW_REC_EXIT);
  P("TYPE_RESYNC_BEGIN", LW_REC_RESYNC_BEGIN);
  P("TYPE_RESYNC_ENTRIES", LW_REC_RESYNC_ENTRIES);
  P("TYPE_RESYNC_END", LW_REC_RESYNC_END);
  P("TYPE_ALLOCATOR_STATS", LW_REC_ALLOCATOR_STATS);
  P("MAX_RESYNC_ENTRIES", LW_RESYNC_BATCH);
  P("ALLOC_PAYLOAD", sizeof(lw_alloc_payload));
  P("FREE_PAYLOAD", sizeof(lw_free_payload));
  P("MODULE_PAYLOAD", sizeof(lw_module_payload));
  P("EXIT_PAYLOAD", sizeof(lw_exit_payload));
  P("ALLOCATOR_STATS_PAYLOAD", sizeof(lw_allocator_stats_payload));
  P("RESYNC_MARKER_PAYLOAD", sizeof(lw_resync_marker_payload));
  P("MAX_FRAMES", LW_MAX_FRAMES);
  return 0;
}
