package io.leakwatch.collector.proc;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

/**
 * One pass over /proc/PID/smaps: the process's private bytes (what smaps_rollup sums: Private_Clean
 * + Private_Dirty + Swap) and its mappings grouped by kind, as {@code !address -summary} groups
 * them. For either file the kernel walks the process's page tables while holding its mmap lock, 6-9
 * ms for a JVM of 560 mappings on this project's VM: reading both, as the collector did, walked
 * them twice every counter interval. The text is parsed as bytes, no string per line: the collector
 * runs on C1 only, where the line-per-string parse cost as much as the kernel's walk.
 *
 * <p>The file is the target's: a process exiting mid-read cuts it short, and a mapping's path is
 * whatever the process named a file. A line longer than {@link #MAX_LINE} is judged by its first
 * bytes, numbers saturate instead of wrapping, at most {@code maxBytes} are read (a summary of less
 * than the whole file says so: a process with more mappings than that has its private bytes read
 * from smaps_rollup instead), and nothing malformed throws.
 */
final class Smaps {
  static final long MAX_BYTES = 64L << 20;

  /** A header line is 73 bytes plus a path of at most PATH_MAX (4,096). */
  static final int MAX_LINE = 8192;

  /**
   * What one read found. {@code complete}: the file was read to its end (not cut by {@code
   * maxBytes} or an error), so its private bytes are the whole process's.
   */
  record Summary(long privateBytes, Map<String, ProcCounters.Region> regions, boolean complete) {}

  private Smaps() {}

  /** The summary of one smaps file, or null when it cannot be opened or holds no mapping. */
  static Summary read(Path file) {
    try (InputStream in = Files.newInputStream(file)) {
      return parse(in, MAX_BYTES);
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /**
   * Parses at most {@code maxBytes} of smaps text; the whole lines read before the limit or an I/O
   * error count (the process exited mid-read), a line cut by either does not. Null when no mapping
   * was read.
   */
  static Summary parse(InputStream in, long maxBytes) {
    Parser p = new Parser();
    byte[] buf = new byte[65536];
    long left = maxBytes;
    boolean ended = false;
    try {
      while (left > 0) {
        int n = in.read(buf, 0, (int) Math.min(buf.length, left));
        if (n < 0) {
          ended = true;
          break;
        }
        left -= n;
        p.feed(buf, n);
      }
      if (!ended) ended = in.read() < 0; // exactly maxBytes long is still the whole file
    } catch (IOException | RuntimeException e) {
      ended = false;
    }
    return p.finish(ended);
  }

  private static final class Parser {
    private final byte[] line = new byte[MAX_LINE];
    private int len;
    private long privateBytes;

    /** Per kind: reserved (Size) and committed (Rss + Swap). */
    private final Map<String, long[]> kinds = new TreeMap<>();

    private long[] current;

    void feed(byte[] buf, int n) {
      for (int i = 0; i < n; i++) {
        byte b = buf[i];
        if (b == '\n') {
          line(len);
          len = 0;
        } else if (len < MAX_LINE) {
          line[len++] = b;
        }
      }
    }

    Summary finish(boolean ended) {
      if (ended && len > 0) line(len); // the file's last line, without its newline
      len = 0;
      if (kinds.isEmpty()) return null;
      Map<String, ProcCounters.Region> out = new TreeMap<>();
      kinds.forEach((k, v) -> out.put(k, new ProcCounters.Region(v[0], v[1])));
      return new Summary(privateBytes, out, ended);
    }

    private void line(int n) {
      int colon = indexOf(line, n, (byte) ':');
      int dash = indexOf(line, n, (byte) '-');
      // "start-end perms offset dev inode [path]": the device field has a colon after the dash.
      if (colon < 0 || (dash > 0 && dash < colon && isHex(line[0]))) {
        current = kinds.computeIfAbsent(classify(line, n), k -> new long[2]);
        return;
      }
      if (current == null) return;
      if (named(line, colon, SIZE)) {
        current[0] = addSaturated(current[0], kb(line, colon, n));
      } else if (named(line, colon, RSS)) {
        current[1] = addSaturated(current[1], kb(line, colon, n));
      } else if (named(line, colon, SWAP)) {
        long v = kb(line, colon, n);
        current[1] = addSaturated(current[1], v);
        privateBytes = addSaturated(privateBytes, v);
      } else if (named(line, colon, PRIVATE_CLEAN) || named(line, colon, PRIVATE_DIRTY)) {
        privateBytes = addSaturated(privateBytes, kb(line, colon, n));
      }
    }
  }

  private static final byte[] SIZE = ascii("Size");
  private static final byte[] RSS = ascii("Rss");
  private static final byte[] SWAP = ascii("Swap");
  private static final byte[] PRIVATE_CLEAN = ascii("Private_Clean");
  private static final byte[] PRIVATE_DIRTY = ascii("Private_Dirty");
  private static final byte[] HEAP = ascii("[heap]");
  private static final byte[] STACK = ascii("[stack");
  private static final byte[] MEMFD = ascii("/memfd:");
  private static final byte[] DELETED = ascii("(deleted)");
  private static final byte[] VDSO = ascii("[vdso]");
  private static final byte[] VVAR = ascii("[vvar]");
  private static final byte[] VSYSCALL = ascii("[vsyscall]");

  /** "start-end perms offset dev inode [path]" to a region kind. */
  static String classify(byte[] b, int n) {
    int s = 0, e = n;
    while (s < e && blank(b[s])) s++;
    while (e > s && blank(b[e - 1])) e--;
    int fields = 0, permsStart = s, permsEnd = s, i = s;
    while (i < e && fields < 5) {
      int start = i;
      while (i < e && !blank(b[i])) i++;
      if (fields == 1) {
        permsStart = start;
        permsEnd = i;
      }
      fields++;
      while (i < e && blank(b[i])) i++;
    }
    int path = i; // the rest of the line after five fields, spaces in it kept; empty if none
    if (equal(b, path, e, HEAP)) return "heap";
    if (startsWith(b, path, e, STACK)) return "stack";
    if (permsEnd - permsStart > 3 && b[permsStart + 3] == 's') return "shared";
    if (path < e
        && b[path] == '/'
        && !startsWith(b, path, e, MEMFD)
        && !(e - path >= DELETED.length && equal(b, e - DELETED.length, e, DELETED)))
      return "image";
    if (equal(b, path, e, VDSO) || equal(b, path, e, VVAR) || equal(b, path, e, VSYSCALL))
      return "image";
    return "anonymous";
  }

  /** The first number after the colon, in kB, as bytes; 0 when there is none. */
  private static long kb(byte[] b, int colon, int n) {
    long v = 0;
    int digits = 0;
    for (int i = colon + 1; i < n && digits < 18; i++) {
      byte c = b[i];
      if (c >= '0' && c <= '9') {
        v = v * 10 + (c - '0');
        digits++;
      } else if (digits > 0) {
        break;
      }
    }
    return v > Long.MAX_VALUE / 1024 ? Long.MAX_VALUE : v * 1024;
  }

  private static long addSaturated(long a, long b) {
    long r = a + b;
    return r < 0 ? Long.MAX_VALUE : r; // both are >= 0
  }

  private static boolean named(byte[] b, int colon, byte[] name) {
    return colon == name.length && equal(b, 0, colon, name);
  }

  private static boolean equal(byte[] b, int from, int to, byte[] lit) {
    return to - from == lit.length && startsWith(b, from, to, lit);
  }

  private static boolean startsWith(byte[] b, int from, int to, byte[] lit) {
    if (to - from < lit.length) return false;
    for (int i = 0; i < lit.length; i++) if (b[from + i] != lit[i]) return false;
    return true;
  }

  private static int indexOf(byte[] b, int n, byte c) {
    for (int i = 0; i < n; i++) if (b[i] == c) return i;
    return -1;
  }

  private static boolean blank(byte c) {
    return (c & 0xff) <= ' ';
  }

  private static boolean isHex(byte c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  }

  private static byte[] ascii(String s) {
    return s.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  }
}
