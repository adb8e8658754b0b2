package io.leakwatch.collector.ring;

import static io.leakwatch.collector.ring.RingLayout.*;

import java.io.Closeable;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A mapped ring file with its header validated once. Everything a peer can change later (positions,
 * flags, stats, record bytes) is re-read and re-validated on every use by {@link RingReader}; the
 * identity fields read here are copied, so later scribbles cannot move them.
 */
public final class RingFile implements Closeable {
  static final VarHandle LONGS =
      MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

  private final Path path;
  private final FileChannel channel;
  final ByteBuffer buffer;
  final long capacity;
  private final int pid;
  private final int ppid;
  private final long startTimeNs;
  private final long sampleBytes;
  private final long procStartTicks;
  private final List<String> cmdline;

  private RingFile(Path path, FileChannel channel, ByteBuffer buffer, long capacity) {
    this.path = path;
    this.channel = channel;
    this.buffer = buffer;
    this.capacity = capacity;
    buffer.order(ByteOrder.LITTLE_ENDIAN);
    this.pid = buffer.getInt(OFF_PID);
    this.ppid = buffer.getInt(OFF_PPID);
    this.startTimeNs = buffer.getLong(OFF_START_TIME_NS);
    this.sampleBytes = buffer.getLong(OFF_SAMPLE_BYTES);
    this.procStartTicks = buffer.getLong(OFF_PROC_START_TICKS);
    int len = Math.max(0, Math.min(buffer.getInt(OFF_CMDLINE_LEN), CMDLINE_MAX));
    byte[] raw = new byte[len];
    buffer.get(CMDLINE_OFFSET, raw);
    List<String> args = new ArrayList<>();
    int start = 0;
    for (int i = 0; i <= len; i++) {
      if (i == len || raw[i] == 0) {
        if (i > start) args.add(new String(raw, start, i - start, StandardCharsets.UTF_8));
        start = i + 1;
      }
    }
    this.cmdline = List.copyOf(args);
  }

  /** Opens and validates a ring; never follows a symbolic link. */
  public static RingFile open(Path path) throws IOException, RingFormatException {
    if (!Files.isRegularFile(path, LinkOption.NOFOLLOW_LINKS)) {
      throw new RingFormatException(path + " is not a regular file");
    }
    FileChannel ch =
        FileChannel.open(
            path, StandardOpenOption.READ, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
    try {
      long size = ch.size();
      if (size < HEADER_SIZE + MIN_CAPACITY)
        throw new RingFormatException("ring too small: " + size + " bytes");
      MappedByteBuffer head = ch.map(FileChannel.MapMode.READ_ONLY, 0, HEADER_SIZE);
      long capacity;
      try {
        capacity = validateHeader(head, size);
      } finally {
        MappedBuffers.unmap(head);
      }
      MappedByteBuffer all = ch.map(FileChannel.MapMode.READ_WRITE, 0, HEADER_SIZE + capacity);
      return new RingFile(path, ch, all, capacity);
    } catch (IOException | RingFormatException | RuntimeException e) {
      ch.close();
      throw e;
    }
  }

  /**
   * A ring image already in memory (a direct buffer: positions are read with acquire semantics).
   */
  public static RingFile wrap(ByteBuffer direct) throws RingFormatException {
    if (!direct.isDirect())
      throw new IllegalArgumentException("ring images must be direct buffers");
    ByteBuffer b = direct.duplicate().clear();
    if (b.capacity() < HEADER_SIZE + MIN_CAPACITY) throw new RingFormatException("ring too small");
    long capacity = validateHeader(b, b.capacity());
    return new RingFile(null, null, b.limit((int) (HEADER_SIZE + capacity)).slice(), capacity);
  }

  private static long validateHeader(ByteBuffer head, long fileSize) throws RingFormatException {
    head.order(ByteOrder.LITTLE_ENDIAN);
    byte[] magic = new byte[8];
    head.get(0, magic);
    if (!Arrays.equals(magic, MAGIC)) throw new RingFormatException("bad magic");
    if (head.getInt(OFF_VERSION) != VERSION)
      throw new RingFormatException("unsupported version " + head.getInt(OFF_VERSION));
    if (head.getInt(OFF_HEADER_SIZE) != HEADER_SIZE)
      throw new RingFormatException("bad header size");
    long capacity = head.getLong(OFF_CAPACITY);
    if (capacity < MIN_CAPACITY || capacity > MAX_CAPACITY || Long.bitCount(capacity) != 1) {
      throw new RingFormatException("bad capacity " + capacity);
    }
    if (fileSize < HEADER_SIZE + capacity)
      throw new RingFormatException("file shorter than its capacity");
    return capacity;
  }

  public Path path() {
    return path;
  }

  public int pid() {
    return pid;
  }

  public int ppid() {
    return ppid;
  }

  public long startTimeNs() {
    return startTimeNs;
  }

  public long sampleBytes() {
    return sampleBytes;
  }

  public long procStartTicks() {
    return procStartTicks;
  }

  public List<String> cmdline() {
    return cmdline;
  }

  public long capacity() {
    return capacity;
  }

  /** Where the next record will be written (records before it are published or being written). */
  public long writePosition() {
    return writePos();
  }

  long writePos() {
    return (long) LONGS.getAcquire(buffer, OFF_WRITE_POS);
  }

  long readPos() {
    return (long) LONGS.getAcquire(buffer, OFF_READ_POS);
  }

  void publishReadPos(long pos) {
    LONGS.setRelease(buffer, OFF_READ_POS, pos);
  }

  long consumedPos() {
    return (long) LONGS.getAcquire(buffer, OFF_CONSUMED_POS);
  }

  void publishConsumedPos(long pos) {
    LONGS.setRelease(buffer, OFF_CONSUMED_POS, pos);
  }

  /** The shim's exit path ran. */
  public boolean exitedFlag() {
    return (buffer.getInt(OFF_FLAGS) & FLAG_EXITED) != 0;
  }

  /** {@code leakwatch detach} ended this ring's recording (the process may still run). */
  public boolean detachedFlag() {
    return (buffer.getInt(OFF_FLAGS) & FLAG_DETACHED) != 0;
  }

  /** Made by {@code leakwatch attach} in a process that was already running. */
  public boolean attachedFlag() {
    return (buffer.getInt(OFF_FLAGS) & FLAG_ATTACHED) != 0;
  }

  /** A counter of the shim's stats block; a peer may have scribbled it, so it is only reported. */
  public long stat(int index) {
    return (long) LONGS.getOpaque(buffer, OFF_STATS + 8 * index);
  }

  /** Dormant: the shim records no new allocations (frees of recorded ones still are). */
  public void setDormant(boolean dormant) {
    VarHandle ints = MethodHandles.byteBufferViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
    ints.setRelease(buffer, OFF_CONTROL, dormant ? CONTROL_DORMANT : 0);
  }

  public boolean dormant() {
    return (buffer.getInt(OFF_CONTROL) & CONTROL_DORMANT) != 0;
  }

  /** Bytes written and not yet read (what the collector still has to publish). */
  public long unreadBytes() {
    if (closed) return 0;
    long used = writePos() - readPos();
    return used < 0 ? 0 : Math.min(used, capacity);
  }

  /** Fill of the ring in [0, 1], for the collector's own metrics. */
  public double fill() {
    if (closed) return 0;
    long used = writePos() - readPos();
    return used < 0 || used > capacity ? 1.0 : (double) used / capacity;
  }

  /**
   * Whether {@link #close} ran; read by the methods other threads may call ({@link #fill}, {@link
   * #unreadBytes}), which then answer as for an empty ring.
   */
  private volatile boolean closed;

  /**
   * Closes the file and unmaps the ring now (see {@link MappedBuffers}): nothing may read this ring
   * afterwards. The collector closes a ring on its round thread, under the lock its other readers
   * (metrics, {@code run}'s progress) take, after it stopped following the ring.
   */
  @Override
  public void close() throws IOException {
    if (closed) return;
    closed = true;
    if (channel == null) return; // an image from wrap(): not a mapping of ours
    try {
      channel.close();
    } finally {
      MappedBuffers.unmap(buffer);
    }
  }
}
