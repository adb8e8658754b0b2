package io.leakwatch.collector.ring;

/** One record read from a ring. {@code seq} is the record's position in the ring's byte stream. */
public sealed interface RingRecord {
  long seq();

  /** A recorded allocation; frames are raw return addresses, allocation site first. */
  record Alloc(
      long seq,
      long address,
      long size,
      double weight,
      long timestampNs,
      int threadId,
      int kind,
      boolean truncated,
      long[] frames)
      implements RingRecord {}

  /** The release of a recorded allocation; for kind mmap, {@code length} bytes from address on. */
  record Free(long seq, long address, int kind, long length) implements RingRecord {}

  /** A loaded ELF object: runtime address = ELF virtual address + loadBias. */
  record Module(
      long seq,
      long loadBias,
      long lo,
      long hi,
      boolean mainExecutable,
      String buildId,
      String path)
      implements RingRecord {}

  /** A resync begins: the shim lists its live sampled blocks after an overflow. */
  record ResyncBegin(long seq, long epoch) implements RingRecord {}

  /** Part of the list: live sampled blocks and their sizes. */
  record ResyncEntries(long seq, long[] addresses, long[] sizes) implements RingRecord {}

  /** The list is complete. */
  record ResyncEnd(long seq, long epoch) implements RingRecord {}

  /** glibc's arena statistics (mallinfo2): what the allocator holds, hands out, and holds free. */
  record AllocatorStats(
      long seq,
      long timestampNs,
      long arenaBytes,
      long inUseBytes,
      long freeBytes,
      long releasableBytes)
      implements RingRecord {}

  /** The shim's exit path ran (a clean exit). */
  record Exit(long seq, long timestampNs) implements RingRecord {}
}
