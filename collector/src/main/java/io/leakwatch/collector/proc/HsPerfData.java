package io.leakwatch.collector.proc;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;

/**
 * The managed heap of a JVM, read from its hsperfdata file (the shared memory the JVM publishes for
 * jstat; no attach, no safepoint): used = the sum of {@code sun.gc.generation.*.space.*.used},
 * committed = the sum of {@code sun.gc.generation.*.capacity}. The file belongs to someone else:
 * every offset and length is checked against the file's size, names are bounded, and anything
 * malformed gives "unknown", never an exception.
 */
public final class HsPerfData {
  private static final int MAGIC = 0xcafec0c0;
  private static final int MAX_FILE = 1 << 20;
  private static final int MAX_ENTRIES = 10_000;

  public record Heap(long usedBytes, long committedBytes) {}

  private HsPerfData() {}

  /** The heap in one hsperfdata file, or null when it cannot be read or is not one. */
  static Heap heap(Path file) {
    try {
      return parse(read(file));
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /**
   * One process's managed heap (null when it is not a JVM publishing hsperfdata), sampled every
   * counter interval. Finding the file lists the process's /tmp (hundreds of entries on a busy
   * host) and reads its status for the namespace pid; both answers hold for the process's life, so
   * they are found once and remembered. A process with no file is looked at on each of its first
   * {@link #EAGER_LOOKS} samples (a JVM writes its file during start-up, maybe after its ring was
   * found), then once a minute (a program that starts a JVM in-process later, or a file that was
   * removed).
   */
  public static final class Source {
    static final int EAGER_LOOKS = 6;
    static final long LATER_LOOK_MS = 60_000;

    private final Path proc;
    private final int pid;
    private String nsPid;
    private Path file;
    private int looks;
    private long nextLookMs = Long.MIN_VALUE;

    public Source(Path proc, int pid) {
      this.proc = proc;
      this.pid = pid;
    }

    /** The heap now, or null when the process is not (or not yet seen to be) a publishing JVM. */
    public Heap heap(long nowMs) {
      if (file != null) {
        Heap h = HsPerfData.heap(file);
        if (h != null) return h;
        file = null; // gone or rewritten under us: look again now
      } else if (nowMs < nextLookMs) {
        return null;
      }
      looks++;
      nextLookMs = looks < EAGER_LOOKS ? Long.MIN_VALUE : nowMs + LATER_LOOK_MS;
      // Remembered only when status said it: a failed read would otherwise pin the host's pid, and
      // a containerized JVM's file (named by its pid inside) would never be found.
      if (nsPid == null) nsPid = namespacePidOrNull(proc, pid);
      String name = nsPid != null ? nsPid : Integer.toString(pid);
      // The file is named by the process's own pid in its own /tmp, under its user's directory.
      Path tmp = proc.resolve(Integer.toString(pid)).resolve("root").resolve("tmp");
      try (DirectoryStream<Path> dirs = Files.newDirectoryStream(tmp, "hsperfdata_*")) {
        for (Path dir : dirs) {
          Path candidate = dir.resolve(name);
          if (!Files.isRegularFile(candidate, LinkOption.NOFOLLOW_LINKS)) continue;
          Heap h = HsPerfData.heap(candidate);
          if (h != null) {
            file = candidate;
            return h;
          }
        }
      } catch (IOException | RuntimeException e) {
        // not a JVM we can read (gone, no /tmp, not ours to list): looked at again as above
      }
      return null;
    }

    /** How many times the file was looked for (tests). */
    int looks() {
      return looks;
    }
  }

  /** The pid as the process sees itself (its last NSpid), which names its hsperfdata file. */
  public static String namespacePid(Path proc, int pid) {
    String ns = namespacePidOrNull(proc, pid);
    return ns != null ? ns : Integer.toString(pid);
  }

  /** The process's last NSpid, or null when its status could not be read or has none. */
  static String namespacePidOrNull(Path proc, int pid) {
    String status = ProcCounters.read(proc.resolve(Integer.toString(pid)).resolve("status"));
    if (status != null) {
      for (String line : status.split("\n")) {
        if (line.startsWith("NSpid:")) {
          String[] f = line.substring(6).trim().split("\\s+");
          if (f.length > 0 && f[f.length - 1].matches("\\d{1,10}")) return f[f.length - 1];
        }
      }
    }
    return null;
  }

  private static byte[] read(Path file) throws IOException {
    try (var in = Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS)) {
      return in.readNBytes(MAX_FILE);
    }
  }

  /** Parses an hsperfdata image; null when it is not one or holds no heap counters. */
  public static Heap parse(byte[] image) {
    try {
      ByteBuffer b = ByteBuffer.wrap(image);
      if (image.length < 32 || b.order(ByteOrder.BIG_ENDIAN).getInt(0) != MAGIC) return null;
      b.order(image[4] == 1 ? ByteOrder.LITTLE_ENDIAN : ByteOrder.BIG_ENDIAN);
      int entryOffset = b.getInt(24);
      int entries = b.getInt(28);
      if (entryOffset < 32 || entryOffset > image.length || entries < 0 || entries > MAX_ENTRIES)
        return null;
      long used = 0, committed = 0;
      boolean found = false;
      int off = entryOffset;
      for (int i = 0; i < entries; i++) {
        if (off < 0 || off + 20 > image.length) break;
        int length = b.getInt(off);
        int nameOffset = b.getInt(off + 4);
        int vectorLength = b.getInt(off + 8);
        byte type = b.get(off + 12);
        int dataOffset = b.getInt(off + 16);
        if (length < 20 || length > image.length - off) break;
        if (type == 'J'
            && vectorLength == 0
            && nameOffset > 0
            && nameOffset < length
            && dataOffset > 0
            && dataOffset <= length - 8) {
          String name = name(image, off + nameOffset, off + length);
          if (name.startsWith("sun.gc.generation.")) {
            long v = b.getLong(off + dataOffset);
            if (name.endsWith(".used") && name.contains(".space.")) {
              used += v;
              found = true;
            } else if (name.endsWith(".capacity") && !name.contains(".space.")) {
              committed += v;
            }
          }
        }
        off += length;
      }
      return found ? new Heap(used, committed) : null;
    } catch (IndexOutOfBoundsException e) {
      return null;
    }
  }

  private static String name(byte[] image, int from, int end) {
    int i = from;
    int stop = Math.min(end, from + 256);
    while (i < stop && image[i] != 0) i++;
    return new String(image, from, i - from, StandardCharsets.US_ASCII);
  }
}
