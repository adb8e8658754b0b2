package io.leakwatch.collector.ring;

/**
 * Offsets and limits of the ring file, mirroring collector/src/main/c/shared_ring_buffer.h
 * (docs/ring-format.md).
 */
public final class RingLayout {
  public static final byte[] MAGIC = {'L', 'K', 'W', 'R', 'I', 'N', 'G', '1'};
  public static final int VERSION = 1;
  public static final int HEADER_SIZE = 4096;
  public static final int MAX_RECORD = 4096;
  public static final long MIN_CAPACITY = 4096;
  public static final long MAX_CAPACITY = 1L << 30; // a ByteBuffer index is an int

  public static final int OFF_VERSION = 8;
  public static final int OFF_HEADER_SIZE = 12;
  public static final int OFF_CAPACITY = 16;
  public static final int OFF_PID = 24;
  public static final int OFF_PPID = 28;
  public static final int OFF_START_TIME_NS = 32;
  public static final int OFF_SAMPLE_BYTES = 40;
  public static final int OFF_PROC_START_TICKS = 48;
  public static final int OFF_FLAGS = 56;
  public static final int OFF_CMDLINE_LEN = 60;
  public static final int OFF_WRITE_POS = 64;
  public static final int OFF_READ_POS = 128;

  /** The collector's own resume hint (see shared_ring_buffer.h): acknowledged up to here. */
  public static final int OFF_CONSUMED_POS = 136;

  public static final int OFF_STATS = 192;
  public static final int CMDLINE_OFFSET = 1024;
  public static final int CMDLINE_MAX = HEADER_SIZE - CMDLINE_OFFSET;

  /** Stats block: one u64 per counter, in this order. */
  public static final int STAT_RECORDS_WRITTEN = 0;

  public static final int STAT_DROPPED_FULL = 1;
  public static final int STAT_BYTES_DROPPED_FULL = 2;
  public static final int STAT_DROPPED_OVERSIZE = 3;
  public static final int STAT_LIVE_SET_FULL = 4;
  public static final int STAT_REENTRANT = 5;
  public static final int STAT_STACKS_TRUNCATED = 6;
  public static final int STAT_CORRUPT_POSITIONS = 7;
  public static final int STAT_BOOTSTRAP = 8;
  public static final int STAT_RESYNCS_COMPLETED = 9;
  public static final int STAT_RESYNCS_ABANDONED = 10;
  public static final int STAT_DROPPED_CONTENTION = 11;
  public static final int STAT_DROPPED_UNRESERVED = 12;
  public static final int STAT_FREES_REENTRANT = 13;
  public static final int STAT_FREED_ELSEWHERE = 14;
  public static final int STAT_LIVE_SET_BUSY = 15;

  /** Writes that waited for room (a ring told to wait when full; not losses) and their time. */
  public static final int STAT_FULL_WAITS = 16;

  public static final int STAT_FULL_WAIT_NS = 17;

  public static final int FLAG_EXITED = 1;

  /** With EXITED: {@code leakwatch detach} ended the recording; the process runs on. */
  public static final int FLAG_DETACHED = 2;

  /** Made by {@code leakwatch attach}: blocks from before the ring's start are unknown. */
  public static final int FLAG_ATTACHED = 4;

  /** Reserved and being written: the length is real, the payload not yet (wire_protocol.h). */
  public static final int TYPE_PENDING = 0;

  public static final int TYPE_ALLOC = 1;
  public static final int TYPE_FREE = 2;
  public static final int TYPE_MODULE = 3;
  public static final int TYPE_EXIT = 4;
  public static final int TYPE_RESYNC_BEGIN = 5;
  public static final int TYPE_RESYNC_ENTRIES = 6;
  public static final int TYPE_RESYNC_END = 7;
  public static final int MAX_RESYNC_ENTRIES = 250;
  public static final int TYPE_ALLOCATOR_STATS = 8;
  public static final int ALLOCATOR_STATS_PAYLOAD = 40;
  public static final int OFF_CONTROL = 512;
  public static final int CONTROL_DORMANT = 1;

  public static final int ALLOC_PAYLOAD = 40;
  public static final int FREE_PAYLOAD = 24;
  public static final int MODULE_PAYLOAD = 64;
  public static final int EXIT_PAYLOAD = 8;
  public static final int MAX_FRAMES = 64;
  public static final int RESYNC_MARKER_PAYLOAD = 8;

  /**
   * A collector holds a POSIX lock on this file in the run directory while it runs: a shim that
   * finds it unlocked at exit removes its ring, which nobody would read.
   */
  public static final String COLLECTOR_LOCK = "collector.lock";

  private RingLayout() {}
}
