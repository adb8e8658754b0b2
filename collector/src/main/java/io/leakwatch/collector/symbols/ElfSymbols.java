package io.leakwatch.collector.symbols;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.HexFormat;
import org.tukaani.xz.XZInputStream;

/**
 * The function symbols of one ELF64 little-endian file (.symtab and .dynsym, and the .symtab inside
 * an xz-compressed {@code .gnu_debugdata} section, Fedora's MiniDebugInfo), its GNU build id and
 * where its debug info is ({@code .debug_info} in the file itself, or a {@code .gnu_debuglink} to a
 * separate file). The file is someone else's: every offset, size and count is checked against the
 * file's length before use, names are bounded, a compressed section is inflated to a bounded size,
 * and a file that fails a check yields an empty table, never an exception escaping to the caller.
 */
public final class ElfSymbols {
  private static final int SHT_SYMTAB = 2;
  private static final int SHT_NOTE = 7;
  private static final int SHT_DYNSYM = 11;
  private static final int STT_FUNC = 2;
  private static final int STT_GNU_IFUNC = 10;
  private static final int MAX_NAME = 4096;
  private static final int MAX_SYMBOLS = 4_000_000;
  private static final int SHT_NOBITS = 8;

  /** MiniDebugInfo is a small symbol table; more than this compressed or inflated is not one. */
  static final int MAX_MINI_DEBUG_INFO = 64 << 20;

  public static final ElfSymbols EMPTY =
      new ElfSymbols(new long[0], new long[0], new String[0], null, DebugSections.NONE);

  /**
   * Where this file's debug info is.
   *
   * @param hasDwarf the file itself holds .debug_info (or .zdebug_info) with contents
   * @param debugLink the file name its .gnu_debuglink names, or null
   * @param debugLinkCrc the CRC-32 that link expects of the separate file
   * @param miniDebugInfo whether .gnu_debugdata supplied symbols (from {@link #loadHeaders}:
   *     whether the file has one, not inflated)
   */
  public record DebugSections(
      boolean hasDwarf, String debugLink, int debugLinkCrc, boolean miniDebugInfo) {
    static final DebugSections NONE = new DebugSections(false, null, 0, false);
  }

  private final long[] starts;
  private final long[] sizes;
  private final String[] names;
  private final String buildId;
  private final DebugSections debug;

  private ElfSymbols(
      long[] starts, long[] sizes, String[] names, String buildId, DebugSections debug) {
    this.starts = starts;
    this.sizes = sizes;
    this.names = names;
    this.buildId = buildId;
    this.debug = debug;
  }

  /** A symbol and the offset of the address inside it. */
  public record Hit(String name, long offset) {}

  public static ElfSymbols load(Path file) {
    return load(file, true);
  }

  /**
   * The file's build id and debug sections only, with an empty symbol table: what finding its debug
   * file needs. Cheaper than {@link #load} by the symbol tables' parse and sort and MiniDebugInfo's
   * inflation (libc: 5 ms warm, 64 ms on a collector's first module), which the symbolizer has
   * already paid for the same module.
   */
  public static ElfSymbols loadHeaders(Path file) {
    return load(file, false);
  }

  private static ElfSymbols load(Path file, boolean withSymbols) {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      long size = ch.size();
      if (size < 64 || size > Integer.MAX_VALUE) return EMPTY;
      MappedByteBuffer map = ch.map(FileChannel.MapMode.READ_ONLY, 0, size);
      return parse(map, withSymbols);
    } catch (IOException | RuntimeException e) {
      return EMPTY;
    }
  }

  /** Parses an ELF image; anything malformed gives an empty (or partial) table. */
  public static ElfSymbols parse(ByteBuffer image) {
    return parse(image, true);
  }

  /** {@link #parse}, or with {@code withSymbols} false only the build id and debug sections. */
  static ElfSymbols parse(ByteBuffer image, boolean withSymbols) {
    ByteBuffer b = image.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    try {
      return parseChecked(b, withSymbols);
    } catch (IndexOutOfBoundsException | IllegalArgumentException e) {
      return EMPTY;
    }
  }

  private static ElfSymbols parseChecked(ByteBuffer b, boolean withSymbols) {
    int limit = b.limit();
    if (limit < 64 || b.get(0) != 0x7f || b.get(1) != 'E' || b.get(2) != 'L' || b.get(3) != 'F')
      return EMPTY;
    if (b.get(4) != 2 || b.get(5) != 1) return EMPTY; // 64-bit, little endian only
    long shoff = b.getLong(0x28);
    int shentsize = Short.toUnsignedInt(b.getShort(0x3A));
    int shnum = Short.toUnsignedInt(b.getShort(0x3C));
    int shstrndx = Short.toUnsignedInt(b.getShort(0x3E));
    if (shoff <= 0
        || shentsize < 64
        || shnum == 0
        || shoff > limit
        || (long) shnum * shentsize > limit - shoff) return EMPTY;
    long namesOff = -1, namesSize = 0;
    if (shstrndx < shnum) {
      int sh = (int) (shoff + (long) shstrndx * shentsize);
      namesOff = b.getLong(sh + 0x18);
      namesSize = b.getLong(sh + 0x20);
      if (namesOff < 0 || namesSize < 0 || namesOff > limit || namesSize > limit - namesOff)
        namesOff = -1;
    }

    boolean hasDwarf = false;
    String debugLink = null;
    int debugLinkCrc = 0;
    ElfSymbols mini = null;
    boolean hasMini = false;
    String buildId = null;
    int count = 0;
    long[] starts = new long[1024];
    long[] sizes = new long[1024];
    String[] names = new String[1024];
    for (int i = 0; i < shnum; i++) {
      int sh = (int) (shoff + (long) i * shentsize);
      int type = b.getInt(sh + 4);
      long off = b.getLong(sh + 0x18);
      long secSize = b.getLong(sh + 0x20);
      if (off < 0 || secSize < 0 || off > limit || secSize > limit - off) continue;
      String name = sectionName(b, sh, namesOff, namesSize);
      if (type != SHT_NOBITS && secSize > 0) {
        switch (name) {
          case ".debug_info", ".zdebug_info" -> hasDwarf = true;
          case ".gnu_debuglink" -> {
            debugLink = readName(b, (int) off, (int) (off + secSize));
            long crcAt = off + ((debugLink.getBytes(StandardCharsets.UTF_8).length + 4) & ~3L);
            if (debugLink.isEmpty() || debugLink.contains("/") || crcAt + 4 > off + secSize)
              debugLink = null;
            else debugLinkCrc = b.getInt((int) crcAt);
          }
          case ".gnu_debugdata" -> {
            if (!withSymbols) hasMini = true;
            else if (mini == null && secSize <= MAX_MINI_DEBUG_INFO)
              mini = miniDebugInfo(b.slice((int) off, (int) secSize));
          }
          default -> {}
        }
      }
      if (type == SHT_NOTE && buildId == null) {
        buildId = findBuildId(b, (int) off, (int) secSize);
      } else if (withSymbols && (type == SHT_SYMTAB || type == SHT_DYNSYM)) {
        int link = b.getInt(sh + 0x28);
        long entsize = b.getLong(sh + 0x38);
        if (link < 0 || link >= shnum || entsize < 24) continue;
        int strSh = (int) (shoff + (long) link * shentsize);
        long strOff = b.getLong(strSh + 0x18);
        long strSize = b.getLong(strSh + 0x20);
        if (strOff < 0 || strSize < 0 || strOff > limit || strSize > limit - strOff) continue;
        long n = secSize / entsize;
        for (long k = 0; k < n && count < MAX_SYMBOLS; k++) {
          int sym = (int) (off + k * entsize);
          int info = b.get(sym + 4) & 0xff;
          int stype = info & 0xf;
          int shndx = Short.toUnsignedInt(b.getShort(sym + 6));
          long value = b.getLong(sym + 8);
          long symSize = b.getLong(sym + 16);
          if ((stype != STT_FUNC && stype != STT_GNU_IFUNC) || shndx == 0 || value == 0) continue;
          long nameOff = Integer.toUnsignedLong(b.getInt(sym));
          if (nameOff >= strSize) continue;
          String symbol = readName(b, (int) (strOff + nameOff), (int) (strOff + strSize));
          if (symbol.isEmpty()) continue;
          if (count == starts.length) {
            int grow = Math.min(MAX_SYMBOLS, count * 2);
            starts = Arrays.copyOf(starts, grow);
            sizes = Arrays.copyOf(sizes, grow);
            names = Arrays.copyOf(names, grow);
          }
          starts[count] = value;
          sizes[count] = symSize;
          names[count] = symbol;
          count++;
        }
      }
    }
    if (mini != null && mini.size() > 0) {
      // MiniDebugInfo holds the symbols strip removed (static functions): the union names both.
      int total = Math.min(MAX_SYMBOLS, count + mini.size());
      starts = Arrays.copyOf(starts, total);
      sizes = Arrays.copyOf(sizes, total);
      names = Arrays.copyOf(names, total);
      for (int k = 0; count < total; k++, count++) {
        starts[count] = mini.starts[k];
        sizes[count] = mini.sizes[k];
        names[count] = mini.names[k];
      }
    }
    DebugSections debug =
        new DebugSections(
            hasDwarf, debugLink, debugLinkCrc, hasMini || (mini != null && mini.size() > 0));
    return sorted(starts, sizes, names, count, buildId, debug);
  }

  /** The section's name from .shstrtab, or "" when the file does not give a readable one. */
  private static String sectionName(ByteBuffer b, int sh, long namesOff, long namesSize) {
    if (namesOff < 0) return "";
    long nameOff = Integer.toUnsignedLong(b.getInt(sh));
    if (nameOff >= namesSize) return "";
    return readName(b, (int) (namesOff + nameOff), (int) (namesOff + namesSize));
  }

  /**
   * The symbols of the ELF file xz-compressed in a .gnu_debugdata section, inflated to at most
   * {@link #MAX_MINI_DEBUG_INFO} bytes; null when it is not one.
   */
  private static ElfSymbols miniDebugInfo(ByteBuffer compressed) {
    byte[] packed = new byte[compressed.remaining()];
    compressed.get(packed);
    try (XZInputStream in =
        new XZInputStream(new ByteArrayInputStream(packed), MAX_MINI_DEBUG_INFO >> 10)) {
      ByteArrayOutputStream out = new ByteArrayOutputStream(packed.length * 4);
      byte[] buf = new byte[65536];
      for (int n; (n = in.read(buf)) > 0; ) {
        if (out.size() + n > MAX_MINI_DEBUG_INFO) return null;
        out.write(buf, 0, n);
      }
      ElfSymbols inner = parse(ByteBuffer.wrap(out.toByteArray()));
      return inner.size() > 0 ? inner : null;
    } catch (IOException | RuntimeException e) {
      return null; // corrupt, truncated, or asking for more memory than a symbol table needs
    }
  }

  private static ElfSymbols sorted(
      long[] starts, long[] sizes, String[] names, int count, String buildId, DebugSections debug) {
    Integer[] order = new Integer[count];
    for (int i = 0; i < count; i++) order[i] = i;
    // By address; at equal addresses prefer the sized symbol, then the shorter (un-versioned) name.
    Arrays.sort(
        order,
        (x, y) -> {
          int c = Long.compareUnsigned(starts[x], starts[y]);
          if (c != 0) return c;
          c = Long.compare(sizes[y], sizes[x]);
          return c != 0 ? c : Integer.compare(names[x].length(), names[y].length());
        });
    long[] s = new long[count];
    long[] z = new long[count];
    String[] n = new String[count];
    int m = 0;
    for (int i = 0; i < count; i++) {
      int k = order[i];
      if (m > 0 && s[m - 1] == starts[k]) continue; // .symtab and .dynsym repeat each other
      s[m] = starts[k];
      z[m] = sizes[k];
      n[m] = names[k];
      m++;
    }
    return new ElfSymbols(
        Arrays.copyOf(s, m), Arrays.copyOf(z, m), Arrays.copyOf(n, m), buildId, debug);
  }

  private static String readName(ByteBuffer b, int from, int end) {
    int stop = Math.min(end, from + MAX_NAME);
    int i = from;
    while (i < stop && b.get(i) != 0) i++;
    byte[] raw = new byte[i - from];
    b.get(from, raw);
    return new String(raw, StandardCharsets.UTF_8);
  }

  private static String findBuildId(ByteBuffer b, int off, int size) {
    int p = off;
    int end = off + size;
    while (p + 12 <= end) {
      long namesz = Integer.toUnsignedLong(b.getInt(p));
      long descsz = Integer.toUnsignedLong(b.getInt(p + 4));
      int type = b.getInt(p + 8);
      long name = p + 12L;
      long desc = name + ((namesz + 3) & ~3L);
      long next = desc + ((descsz + 3) & ~3L);
      if (next > end || next <= p) return null;
      if (type == 3
          && namesz == 4
          && b.get((int) name) == 'G'
          && b.get((int) name + 1) == 'N'
          && b.get((int) name + 2) == 'U'
          && descsz > 0
          && descsz <= 64) {
        byte[] id = new byte[(int) descsz];
        b.get((int) desc, id);
        return HexFormat.of().formatHex(id);
      }
      p = (int) next;
    }
    return null;
  }

  /** The function containing ELF virtual address {@code vaddr}, or null. */
  public Hit lookup(long vaddr) {
    int lo = 0, hi = starts.length - 1, best = -1;
    while (lo <= hi) {
      int mid = (lo + hi) >>> 1;
      if (Long.compareUnsigned(starts[mid], vaddr) <= 0) {
        best = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (best < 0) return null;
    long off = vaddr - starts[best];
    if (sizes[best] > 0 ? off < sizes[best] : off < 4096) return new Hit(names[best], off);
    return null;
  }

  /** Address of a function by name, or -1 (for tests and diagnostics; linear). */
  public long address(String name) {
    for (int i = 0; i < names.length; i++) if (names[i].equals(name)) return starts[i];
    return -1;
  }

  public String buildId() {
    return buildId;
  }

  public DebugSections debugSections() {
    return debug;
  }

  public int size() {
    return starts.length;
  }
}
