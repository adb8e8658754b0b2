package io.leakwatch.collector.ring;

import static io.leakwatch.collector.ring.RingLayout.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * Reads records from a {@link RingFile}, treating every byte as written by an untrusted peer: it
 * never reads outside the mapping, never loops without advancing, and never allocates by a size it
 * read (a record is copied into a fixed scratch buffer of {@link RingLayout#MAX_RECORD} bytes, a
 * frame count is bounded by both the record length and {@link RingLayout#MAX_FRAMES}).
 *
 * <p>Reading and releasing are separate so that nothing is lost when the collector dies: {@link
 * #poll} hands records out without freeing their space; {@link #release} (after Kafka acknowledged
 * them) zeroes the space and moves the shared read position; {@link #rewind} gives them again.
 */
public final class RingReader {
  private static final byte[] ZEROS = new byte[64 * 1024];
  private final RingFile ring;
  private final long mask;
  private final byte[] scratch = new byte[MAX_RECORD];
  private final ByteBuffer view = ByteBuffer.wrap(scratch).order(ByteOrder.LITTLE_ENDIAN);
  private long released;
  private long pos;
  private long corruptRecords;
  private long corruptBytes;
  private long unknownRecords;
  private long abandonedRecords;

  /** Where the reader met a PENDING header, and since when (System.nanoTime). */
  private long pendingAt = -1;

  private long pendingSinceNs;

  /**
   * A record still PENDING after this long was abandoned by its writer (siglongjmp out of a signal
   * handler that interrupted the write): a write takes nanoseconds.
   */
  public static final long ABANDONED_AFTER_NS = 5_000_000_000L;

  public RingReader(RingFile ring) {
    this.ring = ring;
    this.mask = ring.capacity - 1;
    long start = ring.readPos();
    long w = ring.writePos();
    if (start < 0 || (start & 7) != 0 || start > w || w - start > ring.capacity) {
      // A read position we cannot trust: resume at the write position and count the gap.
      corruptBytes += Math.max(0, w - start);
      start = w & ~7L;
    }
    this.released = start;
    this.pos = start;
    // A predecessor killed while it released (after Kafka acknowledged its records, before read_pos
    // moved) left them zeroed at read_pos: resume where it had got to. Its region is zeroed again
    // by
    // the first release (released stays at read_pos), so the writers never reuse stale bytes.
    long consumed = ring.consumedPos();
    if (consumed > start && (consumed & 7) == 0 && consumed <= w) this.pos = consumed;
  }

  /**
   * Reads up to {@code maxRecords} committed records after the last one read.
   *
   * @return the number of records given to the sink
   */
  public int poll(int maxRecords, Consumer<RingRecord> sink) {
    return pollUntil(
        maxRecords,
        r -> {
          sink.accept(r);
          return true;
        });
  }

  /**
   * Like {@link #poll(int, Consumer)}, but stops after a record for which {@code sink} returns
   * false (a resync's end must close the batch it belongs to).
   */
  public int pollUntil(int maxRecords, Predicate<RingRecord> sink) {
    long w = ring.writePos();
    if (w < pos || w - released > ring.capacity || (w & 7) != 0) {
      skipCorrupt(w, false);
      return 0;
    }
    int n = 0;
    while (n < maxRecords && pos < w) {
      long header = (long) RingFile.LONGS.getAcquire(ring.buffer, HEADER_SIZE + (int) (pos & mask));
      if (header == 0) break; // reserved, not yet published
      long len = header & 0xffffffffL;
      int type = (int) (header >>> 32);
      if (len < 16 || len > MAX_RECORD || (len & 7) != 0 || len > w - pos) {
        skipCorrupt(w, true);
        break;
      }
      if (type == TYPE_PENDING) {
        if (!pendingFor(pos, ABANDONED_AFTER_NS)) break; // being written: come back later
        abandonedRecords++;
        pos += len; // its writer is gone from it: skip it by its length, keep what follows
        continue;
      }
      copyOut(pos, (int) len);
      RingRecord r = parse(pos, type, (int) len);
      pos += len;
      if (r != null) {
        n++;
        if (!sink.test(r)) break;
      }
    }
    return n;
  }

  private boolean pendingFor(long at, long ns) {
    long now = System.nanoTime();
    if (pendingAt != at) {
      pendingAt = at;
      pendingSinceNs = now;
    }
    return now - pendingSinceNs >= ns;
  }

  /**
   * The next record is reserved but not published (a zero or PENDING header): reading waits on it.
   */
  public boolean blockedOnUnpublished() {
    long w = ring.writePos();
    if (pos >= w || w - pos > ring.capacity) return false;
    long header = (long) RingFile.LONGS.getAcquire(ring.buffer, HEADER_SIZE + (int) (pos & mask));
    return header == 0 || (int) (header >>> 32) == TYPE_PENDING;
  }

  /**
   * The writer died with the record at the read position unpublished (a thread ended by exit_group
   * in the middle of a write): a PENDING record is skipped by its length and counted, and reading
   * goes on after it; a zero header has no length, so the rest of the ring is given up, counted.
   */
  public void abandonUnpublished() {
    long w = ring.writePos();
    if (w <= pos || w - released > ring.capacity) return;
    long header = (long) RingFile.LONGS.getAcquire(ring.buffer, HEADER_SIZE + (int) (pos & mask));
    long len = header & 0xffffffffL;
    if ((int) (header >>> 32) == TYPE_PENDING
        && len >= 16
        && len <= MAX_RECORD
        && (len & 7) == 0
        && len <= w - pos) {
      abandonedRecords++;
      pos += len;
      return;
    }
    skipCorrupt(w, true);
  }

  private void skipCorrupt(long w, boolean badRecord) {
    if (badRecord) corruptRecords++;
    long target = (w >= pos && w - released <= ring.capacity && (w & 7) == 0) ? w : pos;
    corruptBytes += target - pos;
    pos = target;
  }

  private void copyOut(long at, int len) {
    int off = (int) (at & mask);
    int first = (int) Math.min(len, ring.capacity - off);
    ring.buffer.get(HEADER_SIZE + off, scratch, 0, first);
    if (first < len) ring.buffer.get(HEADER_SIZE, scratch, first, len - first);
  }

  private RingRecord parse(long seq, int type, int len) {
    switch (type) {
      case TYPE_ALLOC -> {
        if (len < 8 + ALLOC_PAYLOAD) return corrupt();
        int nframes = Short.toUnsignedInt(view.getShort(8 + 38));
        if (nframes > MAX_FRAMES || 8 + ALLOC_PAYLOAD + 8L * nframes > len) return corrupt();
        long[] frames = new long[nframes];
        for (int i = 0; i < nframes; i++) frames[i] = view.getLong(8 + ALLOC_PAYLOAD + 8 * i);
        return new RingRecord.Alloc(
            seq,
            view.getLong(8),
            view.getLong(16),
            view.getDouble(24),
            view.getLong(32),
            view.getInt(40),
            scratch[44] & 0xff,
            scratch[45] != 0,
            frames);
      }
      case TYPE_FREE -> {
        if (len < 8 + FREE_PAYLOAD) return corrupt();
        return new RingRecord.Free(seq, view.getLong(8), scratch[16] & 0xff, view.getLong(24));
      }
      case TYPE_MODULE -> {
        if (len < 8 + MODULE_PAYLOAD) return corrupt();
        int buildIdLen = Short.toUnsignedInt(view.getShort(8 + 28));
        int pathLen = Short.toUnsignedInt(view.getShort(8 + 30));
        if (buildIdLen > 32 || 8 + MODULE_PAYLOAD + pathLen > len) return corrupt();
        String buildId =
            buildIdLen == 0 ? null : HexFormat.of().formatHex(scratch, 8 + 32, 8 + 32 + buildIdLen);
        String path = new String(scratch, 8 + MODULE_PAYLOAD, pathLen, StandardCharsets.UTF_8);
        return new RingRecord.Module(
            seq,
            view.getLong(8),
            view.getLong(16),
            view.getLong(24),
            (view.getInt(32) & 1) != 0,
            buildId,
            path);
      }
      case TYPE_EXIT -> {
        return new RingRecord.Exit(seq, view.getLong(8));
      }
      case TYPE_ALLOCATOR_STATS -> {
        if (len < 8 + ALLOCATOR_STATS_PAYLOAD) return corrupt();
        return new RingRecord.AllocatorStats(
            seq,
            view.getLong(8),
            view.getLong(16),
            view.getLong(24),
            view.getLong(32),
            view.getLong(40));
      }
      case TYPE_RESYNC_BEGIN -> {
        return new RingRecord.ResyncBegin(seq, view.getLong(8));
      }
      case TYPE_RESYNC_END -> {
        return new RingRecord.ResyncEnd(seq, view.getLong(8));
      }
      case TYPE_RESYNC_ENTRIES -> {
        long count = view.getLong(8);
        if (count < 0 || count > MAX_RESYNC_ENTRIES || 16 + 16 * count > len) return corrupt();
        long[] addresses = new long[(int) count];
        long[] sizes = new long[(int) count];
        for (int i = 0; i < count; i++) {
          addresses[i] = view.getLong(16 + 16 * i);
          sizes[i] = view.getLong(24 + 16 * i);
        }
        return new RingRecord.ResyncEntries(seq, addresses, sizes);
      }
      default -> {
        unknownRecords++;
        return null;
      }
    }
  }

  private RingRecord corrupt() {
    corruptRecords++;
    return null;
  }

  /** Everything handed out so far is safely elsewhere: free its space for the writers. */
  public void release() {
    releaseTo(pos);
  }

  /**
   * The records before {@code upTo} (a record's position, at most {@link #position()}) are safely
   * elsewhere: free their space. What follows stays in the ring for a successor to read again.
   */
  public void releaseTo(long upTo) {
    long to = Math.min(upTo, pos);
    if (to <= released) return;
    ring.publishConsumedPos(to); // before the zeroing: see shared_ring_buffer.h
    long z = released;
    while (z < to) {
      int off = (int) (z & mask);
      int n = (int) Math.min(Math.min(to - z, ring.capacity - off), ZEROS.length);
      ring.buffer.put(HEADER_SIZE + off, ZEROS, 0, n);
      z += n;
    }
    released = to;
    ring.publishReadPos(to);
  }

  /** Forget what was handed out since the last release: it will be read again. */
  public void rewind() {
    pos = released;
  }

  /** Nothing published is left to read. */
  public boolean drained() {
    return pos >= ring.writePos();
  }

  public long position() {
    return pos;
  }

  public long corruptRecords() {
    return corruptRecords;
  }

  public long corruptBytes() {
    return corruptBytes;
  }

  /**
   * Records whose writer never finished them (PENDING for longer than {@link #ABANDONED_AFTER_NS}).
   */
  public long abandonedRecords() {
    return abandonedRecords;
  }

  public long unknownRecords() {
    return unknownRecords;
  }
}
