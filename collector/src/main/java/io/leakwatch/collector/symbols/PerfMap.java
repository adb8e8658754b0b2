package io.leakwatch.collector.symbols;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * A JIT's perf map ({@code /tmp/perf-PID.map}: one {@code START SIZE NAME} line per code blob, hex
 * numbers with or without 0x), as the JVM writes it for {@code jcmd PID Compiler.perfmap}. The file
 * is written by the target, so it is bounded (lines, line length, total size) and every malformed
 * line is skipped and counted; overlapping entries (code freed and reused) resolve to the later
 * line, as perf does.
 */
public final class PerfMap {
  static final int MAX_ENTRIES = 2_000_000;
  static final int MAX_NAME = 1024;
  static final long MAX_BYTES = 256L << 20;

  private final long[] starts;
  private final long[] ends;
  private final String[] names;
  private final int skipped;

  private PerfMap(long[] starts, long[] ends, String[] names, int skipped) {
    this.starts = starts;
    this.ends = ends;
    this.names = names;
    this.skipped = skipped;
  }

  public static final PerfMap EMPTY = new PerfMap(new long[0], new long[0], new String[0], 0);

  /**
   * Reads {@code file}; a missing or unreadable file is {@link #EMPTY}. Symlinks are not followed.
   */
  public static PerfMap load(Path file) {
    try (var in = Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS);
        BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
      return parse(r);
    } catch (IOException | RuntimeException e) {
      return EMPTY;
    }
  }

  static PerfMap parse(BufferedReader r) throws IOException {
    long[] s = new long[1024];
    long[] len = new long[1024];
    String[] nm = new String[1024];
    int n = 0;
    int skipped = 0;
    long bytes = 0;
    String line;
    while ((line = r.readLine()) != null && n < MAX_ENTRIES) {
      bytes += line.length() + 1;
      if (bytes > MAX_BYTES) break;
      int a = line.indexOf(' ');
      int b = a < 0 ? -1 : line.indexOf(' ', a + 1);
      long start = b < 0 ? -1 : hex(line, 0, a);
      long size = b < 0 ? -1 : hex(line, a + 1, b);
      if (start <= 0 || size <= 0 || start + size < start) {
        skipped++;
        continue;
      }
      String name = clean(line.substring(b + 1));
      if (n == s.length) {
        s = Arrays.copyOf(s, n * 2);
        len = Arrays.copyOf(len, n * 2);
        nm = Arrays.copyOf(nm, n * 2);
      }
      s[n] = start;
      len[n] = size;
      nm[n] = name;
      n++;
    }
    // Sort by start, later lines winning ties (a stable sort keeps file order among equal starts).
    Integer[] order = new Integer[n];
    for (int i = 0; i < n; i++) order[i] = i;
    final long[] fs = s;
    Arrays.sort(order, (x, y) -> Long.compareUnsigned(fs[x], fs[y]));
    long[] starts = new long[n];
    long[] ends = new long[n];
    String[] names = new String[n];
    int m = 0;
    for (int k = 0; k < n; k++) {
      int i = order[k];
      if (m > 0 && starts[m - 1] == s[i]) m--; // the same start again: the later line replaces it
      starts[m] = s[i];
      ends[m] = s[i] + len[i];
      names[m] = nm[i];
      m++;
    }
    return new PerfMap(
        Arrays.copyOf(starts, m), Arrays.copyOf(ends, m), Arrays.copyOf(names, m), skipped);
  }

  /** A hex number of 1-16 digits, with or without 0x; -1 when it is not one. */
  private static long hex(String line, int from, int to) {
    if (to - from > 2
        && line.charAt(from) == '0'
        && (line.charAt(from + 1) == 'x' || line.charAt(from + 1) == 'X')) from += 2;
    if (to <= from || to - from > 16) return -1;
    long v = 0;
    for (int i = from; i < to; i++) {
      int d = Character.digit(line.charAt(i), 16);
      if (d < 0) return -1;
      v = (v << 4) | d;
    }
    return v;
  }

  /**
   * Names are printable text of bounded length (they are shown in reports and hashed into stack
   * ids).
   */
  private static String clean(String name) {
    StringBuilder b = new StringBuilder(Math.min(name.length(), MAX_NAME));
    for (int i = 0; i < name.length() && b.length() < MAX_NAME; i++) {
      char c = name.charAt(i);
      b.append(Character.isISOControl(c) ? '?' : c);
    }
    String s = b.toString().strip();
    return s.isEmpty() ? "[anonymous]" : s;
  }

  /** The entry containing {@code address}, or null. */
  public Hit lookup(long address) {
    int lo = 0;
    int hi = starts.length - 1;
    int found = -1;
    while (lo <= hi) {
      int mid = (lo + hi) >>> 1;
      if (Long.compareUnsigned(starts[mid], address) <= 0) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    // The nearest start below may belong to a short blob that ends before the address while an
    // earlier, longer one covers it; code blobs do not nest, so only the nearest is checked.
    if (found < 0 || Long.compareUnsigned(address, ends[found]) >= 0) return null;
    return new Hit(names[found], address - starts[found]);
  }

  public record Hit(String name, long offset) {}

  public int size() {
    return starts.length;
  }

  /** Lines that were not {@code START SIZE NAME}. */
  public int skipped() {
    return skipped;
  }
}
