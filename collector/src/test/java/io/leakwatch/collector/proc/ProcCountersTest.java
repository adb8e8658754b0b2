package io.leakwatch.collector.proc;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProcCountersTest {
  private final ProcCounters proc = new ProcCounters();

  @Test
  void countersOfThisJvmAgreeWithProc() throws Exception {
    int pid = (int) ProcessHandle.current().pid();
    // This JVM's sizes move while it is read (a GC uncommitting, once 492 against 361 MB): the
    // sample must lie between what status said just before and just after it, give or take 5%.
    String before = Files.readString(Path.of("/proc/self/status"));
    ProcCounters.Memory m = proc.sample(pid).memory();
    String after = Files.readString(Path.of("/proc/self/status"));
    for (String field : new String[] {"VmSize:", "VmRSS:"}) {
      long a = ProcCounters.kbField(before, field).getAsLong();
      long b = ProcCounters.kbField(after, field).getAsLong();
      long sampled = field.equals("VmSize:") ? m.virtualBytes() : m.residentBytes();
      assertThat(sampled)
          .as(field)
          .isBetween(Math.min(a, b) * 95 / 100, Math.max(a, b) * 105 / 100);
    }
    assertThat(m.privateBytes()).isPositive().isLessThanOrEqualTo(m.virtualBytes());
    assertThat(proc.openFds(pid)).isPositive();
    assertThat(proc.startTicks(pid)).isPositive();
    assertThat(proc.alive(pid, proc.startTicks(pid))).isTrue();
    assertThat(proc.alive(pid, proc.startTicks(pid) + 1))
        .as("a reused pid is another process")
        .isFalse();
  }

  @Test
  void regionsAddUpToWhatProcReports() throws Exception {
    int pid = (int) ProcessHandle.current().pid();
    String before = Files.readString(Path.of("/proc/self/status"));
    java.util.Map<String, ProcCounters.Region> regions = proc.sample(pid).regions();
    assertThat(regions).containsKeys("anonymous", "image", "stack");
    long committed = regions.values().stream().mapToLong(ProcCounters.Region::committedBytes).sum();
    long reserved = regions.values().stream().mapToLong(ProcCounters.Region::reservedBytes).sum();
    String after = Files.readString(Path.of("/proc/self/status"));
    // The JVM's memory moves while smaps is read (GC, other tests): compare with status read on
    // both sides.
    long rss1 = ProcCounters.kbField(before, "VmRSS:").getAsLong(),
        rss2 = ProcCounters.kbField(after, "VmRSS:").getAsLong();
    long size1 = ProcCounters.kbField(before, "VmSize:").getAsLong(),
        size2 = ProcCounters.kbField(after, "VmSize:").getAsLong();
    assertThat((double) committed)
        .isBetween(Math.min(rss1, rss2) * 0.95, Math.max(rss1, rss2) * 1.05 + (16L << 20));
    assertThat((double) reserved)
        .isBetween(Math.min(size1, size2) * 0.95, Math.max(size1, size2) * 1.05);
    assertThat(regions.get("anonymous").committedBytes())
        .isLessThanOrEqualTo(regions.get("anonymous").reservedBytes());
  }

  private static String classify(String header) {
    byte[] b = header.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
    return Smaps.classify(b, b.length);
  }

  @Test
  void regionKindsAndHostileSmaps(@TempDir Path fake) throws Exception {
    assertThat(
            classify(
                "55d0c1a2b000-55d0c1a4c000 rw-p 00000000 00:00 0                          [heap]"))
        .isEqualTo("heap");
    assertThat(
            classify(
                "7ffd5d1e1000-7ffd5d202000 rw-p 00000000 00:00 0                          [stack]"))
        .isEqualTo("stack");
    assertThat(
            classify(
                "7f1c2a000000-7f1c2a021000 rw-s 00000000 00:05 1234  /dev/shm/leakwatch-1.ring"))
        .isEqualTo("shared");
    assertThat(classify("7f1c2b000000-7f1c2b028000 r-xp 00000000 08:01 42  /usr/lib/libc.so.6"))
        .isEqualTo("image");
    assertThat(classify("7f1c2c000000-7f1c2c400000 rw-p 00000000 00:00 0")).isEqualTo("anonymous");
    assertThat(classify("7f1c2c000000-7f1c2c400000 rw-p 00000000 00:00 0  /memfd:x"))
        .isEqualTo("anonymous");
    assertThat(classify("7f1c2c000000-7f1c2c400000 r--p 00000000 08:01 7  /tmp/a b (deleted)"))
        .isEqualTo("anonymous");
    assertThat(classify("7f1c2c000000-7f1c2c400000 r--p 00000000 08:01 7  /tmp/a b"))
        .isEqualTo("image");
    assertThat(classify("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]"))
        .isEqualTo("image");
    assertThat(classify("garbage")).isEqualTo("anonymous");
    assertThat(classify("")).isEqualTo("anonymous");
    Path p = Files.createDirectories(fake.resolve("88"));
    Files.writeString(p.resolve("status"), "VmSize:\t200 kB\nVmRSS:\t104 kB\n");
    Files.writeString(
        p.resolve("smaps"),
        "55d0c1a2b000-55d0c1a4c000 rw-p 00000000 00:00 0 [heap]\nSize:   132 kB\nRss:  100 kB\n"
            + "Size: 99999999999999999999999999 kB\nRss:\nnot a line at all\n7f00-7f01 rw-p 0 0 0\nRss: 4"); // cut mid-line
    java.util.Map<String, ProcCounters.Region> r = new ProcCounters(fake).sample(88).regions();
    assertThat(r.get("heap").committedBytes()).isEqualTo(100 * 1024);
    assertThat(r.get("heap").reservedBytes())
        .as("a number too long to be one saturates, it never wraps")
        .isEqualTo(Long.MAX_VALUE);
    assertThat(r.get("anonymous").committedBytes()).isEqualTo(4 * 1024);
    assertThat(new ProcCounters(fake).sample(89)).isNull();
    // status readable, smaps not (hidepid, a process exiting between the two): private bytes from
    // status, no regions.
    Path q = Files.createDirectories(fake.resolve("90"));
    Files.writeString(q.resolve("status"), "VmSize:\t200 kB\nRssAnon:\t8 kB\nVmSwap:\t4 kB\n");
    ProcCounters.Sample s = new ProcCounters(fake).sample(90);
    assertThat(s.memory().privateBytes()).isEqualTo(12 * 1024);
    assertThat(s.regions()).isNull();
    // smaps not read whole, smaps_rollup readable: the kernel's sums.
    Files.writeString(
        q.resolve("smaps_rollup"),
        "00400000-7fff0000 ---p 00000000 00:00 0 [rollup]\nRss: 40 kB\nPrivate_Clean:\t4 kB\n"
            + "Private_Dirty:\t16 kB\nSwap:\t2 kB\n");
    assertThat(new ProcCounters(fake).sample(90).memory().privateBytes()).isEqualTo(22 * 1024);
  }

  /**
   * A process whose main thread called pthread_exit while another runs: /proc/PID shows a zombie
   * with no memory, maps or descriptors, yet the process lives (its other thread allocates on).
   * Read as gone, the collector retired an attached process the moment it saw it.
   */
  @Test
  void aProcessWhoseMainThreadEndedLivesOnThroughItsOtherThreads() throws Exception {
    String script =
        "import ctypes, threading, time\n"
            + "threading.Thread(target=lambda: time.sleep(60)).start()\n"
            + "ctypes.CDLL(None).pthread_exit(None)\n";
    Process py = new ProcessBuilder("python3", "-c", script).start();
    try {
      int pid = (int) py.pid();
      Path stat = Path.of("/proc/" + pid + "/stat");
      long until = System.currentTimeMillis() + 10_000;
      while (!ProcCounters.isZombie(Files.readString(stat)) && System.currentTimeMillis() < until)
        Thread.sleep(20);
      assertThat(ProcCounters.isZombie(Files.readString(stat))).as("main thread ended").isTrue();
      assertThat(Files.readString(Path.of("/proc/" + pid + "/maps"))).isEmpty();

      long start = proc.startTicks(pid);
      assertThat(proc.alive(pid, start)).isTrue();
      ProcCounters.Sample sample = proc.sample(pid);
      assertThat(sample.memory().virtualBytes()).isPositive();
      assertThat(sample.memory().residentBytes()).isPositive();
      assertThat(sample.memory().privateBytes()).isPositive();
      assertThat(sample.regions()).isNotEmpty();
      assertThat(proc.openFds(pid)).isGreaterThanOrEqualTo(3);
      String python =
          Files.readSymbolicLink(
                  Path.of("/proc/" + pid + "/task")
                      .resolve(proc.liveThreadDir(pid).getFileName())
                      .resolve("exe"))
              .toString();
      assertThat(proc.maps(pid, Path.of(python))).as("maps %s", python).isTrue();
      assertThat(proc.maps(pid, Path.of("/no/such/ring"))).isFalse();

      py.destroyForcibly().waitFor();
      assertThat(proc.alive(pid, start)).isFalse();
    } finally {
      py.destroyForcibly();
    }
  }

  @Test
  void goneProcessIsUnknownNotAnError() {
    assertThat(proc.sample(Integer.MAX_VALUE)).isNull();
    assertThat(proc.openFds(Integer.MAX_VALUE)).isEqualTo(-1);
    assertThat(proc.alive(Integer.MAX_VALUE, 0)).isFalse();
  }

  @Test
  void hostileStatLinesAndTruncatedFiles(@TempDir Path fake) throws Exception {
    assertThat(
            ProcCounters.parseStartTicks(
                "42 (a) b (c)) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 20"))
        .isEqualTo(987654);
    assertThat(ProcCounters.parseStartTicks("42 (x) S 1 2")).isEqualTo(-1);
    assertThat(ProcCounters.parseStartTicks("no paren")).isEqualTo(-1);
    assertThat(
            ProcCounters.parseStartTicks("1 (x) S 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 notanumber"))
        .isEqualTo(-1);
    assertThat(ProcCounters.isZombie("7 (sh) Z 1")).isTrue();
    assertThat(ProcCounters.kbField("VmRSS:", "VmRSS:")).isEmpty();
    assertThat(ProcCounters.kbField("VmRSS:\t  99999999999999999999999 kB", "VmRSS:")).isPresent();
    Path p = Files.createDirectories(fake.resolve("77"));
    Files.writeString(
        p.resolve("status"),
        "Name:\tx\nVmSize:\t100 kB\nVmRSS:"); // cut short by an exiting process
    ProcCounters.Memory m = new ProcCounters(fake).sample(77).memory();
    assertThat(m.virtualBytes()).isEqualTo(102400);
    assertThat(m.residentBytes()).isZero();
  }
}
