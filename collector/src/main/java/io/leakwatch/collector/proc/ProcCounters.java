package io.leakwatch.collector.proc;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.OptionalLong;

/**
 * perfmon's process counters read from /proc. The files are parsed defensively: a process that
 * exits while being read, a truncated line or a missing field gives "unknown", not an exception.
 *
 * <ul>
 *   <li>private bytes: Private_Clean + Private_Dirty + Swap summed over smaps (memory only this
 *       process holds, like Windows' Private Bytes),
 *   <li>virtual bytes: VmSize (reserved address space, Virtual Bytes),
 *   <li>resident bytes: VmRSS.
 * </ul>
 */
public final class ProcCounters {
  private static final int MAX_FILE = 1 << 20;

  private final Path proc;

  public ProcCounters() {
    this(Path.of("/proc"));
  }

  public ProcCounters(Path proc) {
    this.proc = proc;
  }

  public record Memory(long privateBytes, long virtualBytes, long residentBytes) {}

  /** Bytes of one kind of region: reserved (address space) and committed (resident + swapped). */
  public record Region(long reservedBytes, long committedBytes) {}

  /**
   * One counter sample: the memory counters, and {@code !address -summary} for Linux
   * (/proc/PID/smaps grouped as heap ([heap]), stack ([stack]), shared (shared mappings: shm,
   * memfd, shared files), image (code and data of mapped files) and anonymous (everything else:
   * malloc arenas, mmap, JIT, GC heaps)); regions null when smaps could not be read.
   */
  public record Sample(Memory memory, Map<String, Region> regions) {}

  /**
   * The counters of {@code pid}, or null when it is gone. Private bytes and regions come from one
   * read of smaps (see {@link Smaps}: each read walks the process's page tables under its mmap
   * lock); where smaps was not read to its end, private bytes come from smaps_rollup, and where
   * neither can be read, from RssAnon + VmSwap of status.
   */
  public Sample sample(int pid) {
    Path dir = proc.resolve(Integer.toString(pid));
    String status = read(dir.resolve("status"));
    if (status == null) return null;
    if (status.contains("\nState:\tZ")) { // its main thread ended: through another thread's files
      Path thread = liveThreadDir(pid);
      String theirs = thread == null ? null : read(thread.resolve("status"));
      if (theirs != null) {
        dir = thread;
        status = theirs;
      }
    }
    Smaps.Summary smaps = Smaps.read(dir.resolve("smaps"));
    long virt = kbField(status, "VmSize:").orElse(0);
    long rss = kbField(status, "VmRSS:").orElse(0);
    long priv;
    String rollup;
    if (smaps != null && smaps.complete()) {
      priv = smaps.privateBytes();
    } else if ((rollup = read(dir.resolve("smaps_rollup"))) != null
        && rollup.contains("Private_Clean:")) {
      // smaps cut short (more mappings than Smaps reads, or the process exiting): the kernel's sums
      priv =
          kbField(rollup, "Private_Clean:").orElse(0)
              + kbField(rollup, "Private_Dirty:").orElse(0)
              + kbField(rollup, "Swap:").orElse(0);
    } else {
      priv = kbField(status, "RssAnon:").orElse(0) + kbField(status, "VmSwap:").orElse(0);
    }
    return new Sample(new Memory(priv, virt, rss), smaps == null ? null : smaps.regions());
  }

  /** Where {@code pid}'s managed heap is read from, found once (see {@link HsPerfData.Source}). */
  public HsPerfData.Source managedHeapSource(int pid) {
    return new HsPerfData.Source(proc, pid);
  }

  /** Open file descriptors, or -1 when they cannot be listed. */
  public int openFds(int pid) {
    Path dir = proc.resolve(Integer.toString(pid));
    int n = countEntries(dir.resolve("fd"));
    if (n != 0) return n; // listed, or not readable (another user's): as before
    String stat = read(dir.resolve("stat"));
    Path thread = stat != null && isZombie(stat) ? liveThreadDir(pid) : null;
    return thread == null ? n : countEntries(thread.resolve("fd")); // its main thread ended
  }

  private static int countEntries(Path dir) {
    int n = 0;
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
      for (Path ignored : entries) n++;
      return n;
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  /**
   * A live thread's directory, /proc/PID/task/TID, when the main thread has ended while others run
   * (pthread_exit in main): the process lives on as a zombie leader until its last thread ends, and
   * the leader's own files show no memory, no maps and no descriptors. Null when no other thread
   * lives. Asked only when the leader's files say zombie or empty: nothing on a round's usual path.
   */
  Path liveThreadDir(int pid) {
    Path tasks = proc.resolve(Integer.toString(pid)).resolve("task");
    String self = Integer.toString(pid);
    try (DirectoryStream<Path> threads = Files.newDirectoryStream(tasks)) {
      for (Path t : threads) {
        if (t.getFileName().toString().equals(self)) continue;
        String stat = read(t.resolve("stat"));
        if (stat != null && !isZombie(stat) && !isExiting(stat)) return t;
      }
    } catch (IOException | RuntimeException e) {
      return null;
    }
    return null;
  }

  /** Field 22 of /proc/PID/stat (start time in clock ticks since boot), or -1. */
  public long startTicks(int pid) {
    String stat = read(proc.resolve(Integer.toString(pid)).resolve("stat"));
    return stat == null ? -1 : parseStartTicks(stat);
  }

  /** Is the process that started at {@code startTicks} still the one behind {@code pid}? */
  public boolean alive(int pid, long startTicks) {
    String stat = read(proc.resolve(Integer.toString(pid)).resolve("stat"));
    if (stat == null || (isZombie(stat) && liveThreadDir(pid) == null)) return false;
    long now = parseStartTicks(stat);
    return now >= 0 && (startTicks <= 0 || now == startTicks);
  }

  /**
   * Whether the process still maps {@code file}. An attached shim's ring stops being mapped when
   * the process execs (the new program starts without the shim): nothing else says the recording
   * ended. Unknown (an unreadable maps file) counts as mapped.
   */
  public boolean maps(int pid, Path file) {
    String maps = read(proc.resolve(Integer.toString(pid)).resolve("maps"), Smaps.MAX_BYTES);
    if (maps != null && maps.isEmpty()) { // a zombie main thread's: the others' address space
      Path thread = liveThreadDir(pid);
      if (thread != null) maps = read(thread.resolve("maps"), Smaps.MAX_BYTES);
    }
    return maps == null || maps.contains(file.toString());
  }

  /** PF_EXITING in the flags (field 9): in the kernel's exit, its memory already let go. */
  static boolean isExiting(String stat) {
    int close = stat.lastIndexOf(')');
    if (close < 0) return false;
    String[] rest = stat.substring(close + 1).trim().split("\\s+");
    try {
      return rest.length > 6 && (Long.parseLong(rest[6]) & 0x4) != 0;
    } catch (NumberFormatException e) {
      return false;
    }
  }

  static boolean isZombie(String stat) {
    int close = stat.lastIndexOf(')');
    return close >= 0
        && close + 2 < stat.length()
        && (stat.charAt(close + 2) == 'Z' || stat.charAt(close + 2) == 'X');
  }

  static long parseStartTicks(String stat) {
    int close = stat.lastIndexOf(')'); // comm may contain spaces and ')'
    if (close < 0) return -1;
    String[] rest = stat.substring(close + 1).trim().split("\\s+");
    // rest[0] is field 3 (state); field 22 is rest[19]
    if (rest.length < 20) return -1;
    try {
      return Long.parseLong(rest[19]);
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  /** Boot time in epoch seconds (btime of /proc/stat), for start times. */
  public long bootTimeSeconds() {
    String stat = read(proc.resolve("stat"));
    if (stat == null) return 0;
    for (String line : stat.split("\n")) {
      if (line.startsWith("btime ")) {
        try {
          return Long.parseLong(line.substring(6).trim());
        } catch (NumberFormatException e) {
          return 0;
        }
      }
    }
    return 0;
  }

  static OptionalLong kbField(String text, String name) {
    int at = text.startsWith(name) ? 0 : text.indexOf("\n" + name);
    if (at < 0) return OptionalLong.empty();
    if (at > 0) at++;
    int i = at + name.length();
    while (i < text.length() && text.charAt(i) == ' '
        || i < text.length() && text.charAt(i) == '\t') i++;
    long v = 0;
    int digits = 0;
    while (i < text.length() && Character.isDigit(text.charAt(i)) && digits < 18) {
      v = v * 10 + (text.charAt(i++) - '0');
      digits++;
    }
    if (digits == 0) return OptionalLong.empty();
    return OptionalLong.of(v * 1024);
  }

  static String read(Path file) {
    return read(file, MAX_FILE);
  }

  static String read(Path file, long max) {
    try (var in = Files.newInputStream(file)) {
      byte[] data = in.readNBytes((int) Math.min(max, Integer.MAX_VALUE - 8));
      return new String(data, StandardCharsets.UTF_8);
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }
}
