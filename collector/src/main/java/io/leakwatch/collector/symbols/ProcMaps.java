package io.leakwatch.collector.symbols;

import io.leakwatch.collector.ring.RingRecord;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The ELF objects of a live process from /proc/PID/maps, for a collector that resumes a ring whose
 * module records were consumed before it started (a restart). Load bias = the start of the mapping
 * at file offset 0 minus the page-aligned virtual address of the ELF's first PT_LOAD. Lines and
 * headers are someone else's: anything malformed is skipped.
 */
public final class ProcMaps {
  private static final int MAX_LINES = 200_000;

  private ProcMaps() {}

  public static List<RingRecord.Module> modules(Path proc, int pid) {
    Path dir = proc.resolve(Integer.toString(pid));
    String exe = null;
    try {
      exe = Files.readSymbolicLink(dir.resolve("exe")).toString();
    } catch (IOException | RuntimeException e) {
      // not readable: no module is marked as the main executable
    }
    // A loaded image is a run of consecutive mappings of one file that starts at file offset 0 and
    // includes an executable mapping. Other mappings of the same file (a process reading a library
    // as data, say) are separate runs without code and are ignored.
    List<Object[]> images = new ArrayList<>(); // path, lo, hi
    String runPath = null;
    long runLo = 0, runHi = 0;
    boolean runExec = false;
    try (BufferedReader in =
        Files.newBufferedReader(dir.resolve("maps"), StandardCharsets.ISO_8859_1)) {
      String line;
      int n = 0;
      while ((line = in.readLine()) != null && n++ < MAX_LINES) {
        String[] f = line.trim().split("\\s+", 6);
        if (f.length < 5) continue;
        String path = f.length == 6 ? f[5] : "";
        int dash = f[0].indexOf('-');
        if (dash <= 0) continue;
        long lo, hi, offset;
        try {
          lo = Long.parseUnsignedLong(f[0].substring(0, dash), 16);
          hi = Long.parseUnsignedLong(f[0].substring(dash + 1), 16);
          offset = Long.parseUnsignedLong(f[2], 16);
        } catch (NumberFormatException e) {
          continue;
        }
        boolean file = path.startsWith("/") && !f[4].equals("0");
        if (file && path.equals(runPath) && offset != 0) { // the next segment of the current image
          runHi = Math.max(runHi, hi);
          runExec |= f[1].indexOf('x') >= 0;
          continue;
        }
        if (runPath != null && runExec) images.add(new Object[] {runPath, runLo, runHi});
        runPath = null;
        if (file && offset == 0) {
          runPath = path;
          runLo = lo;
          runHi = hi;
          runExec = f[1].indexOf('x') >= 0;
        }
      }
      if (runPath != null && runExec) images.add(new Object[] {runPath, runLo, runHi});
    } catch (IOException | RuntimeException e) {
      // the process went away, or the file is not what it should be: what we have is all we get
    }
    List<RingRecord.Module> out = new ArrayList<>();
    for (Object[] img : images) {
      String path = (String) img[0];
      long lo = (long) img[1], hi = (long) img[2];
      long firstLoad = firstLoadVaddr(dir.resolve("root").resolve(path.substring(1)));
      if (firstLoad < 0) continue;
      out.add(
          new RingRecord.Module(
              -1, lo - (firstLoad & ~0xfffL), lo, hi, path.equals(exe), null, path));
    }
    return out;
  }

  /** p_vaddr of the first PT_LOAD of an ELF64 little-endian file, or -1. */
  static long firstLoadVaddr(Path file) {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      ByteBuffer head = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
      if (ch.read(head, 0) < 64
          || head.getInt(0) != 0x464c457f
          || head.get(4) != 2
          || head.get(5) != 1) return -1;
      long phoff = head.getLong(0x20);
      int phentsize = Short.toUnsignedInt(head.getShort(0x36));
      int phnum = Short.toUnsignedInt(head.getShort(0x38));
      if (phoff <= 0 || phentsize < 56 || phnum == 0 || phnum > 512 || phoff > ch.size()) return -1;
      ByteBuffer ph = ByteBuffer.allocate(phentsize * phnum).order(ByteOrder.LITTLE_ENDIAN);
      ch.read(ph, phoff);
      for (int i = 0; i < phnum && (i + 1) * phentsize <= ph.position(); i++) {
        if (ph.getInt(i * phentsize) == 1)
          return ph.getLong(i * phentsize + 0x10); // PT_LOAD: p_vaddr
      }
      return -1;
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }
}
