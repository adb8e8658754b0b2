package io.leakwatch.collector.proc;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

class SmapsTest {

  @Test
  void privateBytesAreWhatSmapsRollupSums() throws Exception {
    // A sleeping process's memory holds still between the two reads.
    Process sleeper = new ProcessBuilder("sleep", "30").start();
    try {
      Path dir = Path.of("/proc", Long.toString(sleeper.pid()));
      Thread.sleep(200); // past exec
      String rollup = Files.readString(dir.resolve("smaps_rollup"));
      long expected =
          ProcCounters.kbField(rollup, "Private_Clean:").getAsLong()
              + ProcCounters.kbField(rollup, "Private_Dirty:").getAsLong()
              + ProcCounters.kbField(rollup, "Swap:").getAsLong();
      Smaps.Summary s = Smaps.read(dir.resolve("smaps"));
      assertThat(s.privateBytes()).isEqualTo(expected).isPositive();
      long rss = ProcCounters.kbField(rollup, "Rss:").getAsLong();
      long swap = ProcCounters.kbField(rollup, "Swap:").getAsLong();
      assertThat(s.regions().values().stream().mapToLong(ProcCounters.Region::committedBytes).sum())
          .isEqualTo(rss + swap);
    } finally {
      sleeper.destroyForcibly();
    }
  }

  @Test
  void whatWasReadBeforeAnErrorStands() {
    byte[] text =
        "00400000-00401000 r-xp 00000000 08:01 1 /bin/x\nSize: 4 kB\nRss: 4 kB\nPrivate_Clean: 4 kB\n"
            .getBytes(StandardCharsets.US_ASCII);
    InputStream failing =
        new InputStream() {
          int at;

          @Override
          public int read() throws IOException {
            if (at == text.length) throw new IOException("ESRCH: the process exited");
            return text[at++];
          }
        };
    Smaps.Summary s = Smaps.parse(failing, Smaps.MAX_BYTES);
    assertThat(s.privateBytes()).isEqualTo(4096);
    assertThat(s.regions().get("image").committedBytes()).isEqualTo(4096);
    assertThat(s.complete()).as("cut short: its private bytes are not the process's").isFalse();
    assertThat(Smaps.parse(new ByteArrayInputStream(new byte[0]), Smaps.MAX_BYTES)).isNull();
  }

  @Test
  void boundedInLineLengthAndInBytes() {
    StringBuilder text = new StringBuilder("7f00-7f01 rw-p 0 0 0 /");
    text.append("a".repeat(100_000)).append("\nRss: 8 kB\n");
    text.append("Private_Dirty: 1").append("0".repeat(50_000)).append(" kB\n");
    Smaps.Summary s = Smaps.parse(bytes(text.toString()), Smaps.MAX_BYTES);
    assertThat(s.complete()).isTrue();
    assertThat(s.regions()).containsOnlyKeys("image");
    assertThat(s.regions().get("image").committedBytes()).isEqualTo(8192);
    assertThat(s.privateBytes()).isEqualTo(Long.MAX_VALUE);
    // Read no further than asked: the second mapping's lines are past the limit.
    String two = "7f00-7f01 rw-p 0 0 0\nRss: 8 kB\n7f01-7f02 rw-p 0 0 0 [heap]\nRss: 8 kB\n";
    Smaps.Summary cut = Smaps.parse(bytes(two), 31);
    assertThat(cut.regions()).containsOnlyKeys("anonymous");
    assertThat(cut.complete()).isFalse();
    assertThat(Smaps.parse(bytes(two), two.length()).complete())
        .as("a file exactly as long as the limit was read whole")
        .isTrue();
    // The line the limit cuts does not count ("Rss: 12345 kB" cut after "Rss: 12").
    String cutNumber = "7f00-7f01 rw-p 0 0 0\nRss: 12345 kB\n";
    assertThat(Smaps.parse(bytes(cutNumber), 28).regions().get("anonymous").committedBytes())
        .isZero();
  }

  /**
   * The real smaps of this JVM and of a sleeping process, read by the byte parser and by the
   * collector's earlier reading (a String per line, regular expressions; e13f0a3): the regions
   * agree, on the text the kernel writes.
   */
  @Test
  void realSmapsReadAsTheEarlierParserReadThem() throws Exception {
    Process sleeper = new ProcessBuilder("sleep", "30").start();
    try {
      Thread.sleep(200);
      for (String pid : new String[] {"self", Long.toString(sleeper.pid())}) {
        byte[] text = Files.readAllBytes(Path.of("/proc", pid, "smaps"));
        Smaps.Summary got = Smaps.parse(new ByteArrayInputStream(text), Smaps.MAX_BYTES);
        assertThat(got.regions())
            .as(pid)
            .hasSizeGreaterThanOrEqualTo(3)
            .isEqualTo(earlierRegions(text));
        assertThat(got.complete()).isTrue();
      }
    } finally {
      sleeper.destroyForcibly();
    }
  }

  /** ProcCounters.regions and classify as they were in e13f0a3. */
  private static Map<String, ProcCounters.Region> earlierRegions(byte[] text) throws IOException {
    Map<String, long[]> acc = new TreeMap<>();
    try (java.io.BufferedReader in =
        new java.io.BufferedReader(
            new java.io.InputStreamReader(
                new ByteArrayInputStream(text), StandardCharsets.ISO_8859_1))) {
      String kind = null;
      String line;
      while ((line = in.readLine()) != null) {
        int colon = line.indexOf(':');
        boolean header =
            colon < 0
                || (line.indexOf('-') > 0
                    && line.indexOf('-') < colon
                    && "0123456789abcdef".indexOf(line.charAt(0)) >= 0);
        if (header) {
          String[] f = line.trim().split("\\s+", 6);
          String perms = f.length > 1 ? f[1] : "";
          String path = f.length > 5 ? f[5] : "";
          if (path.equals("[heap]")) kind = "heap";
          else if (path.startsWith("[stack")) kind = "stack";
          else if (perms.length() > 3 && perms.charAt(3) == 's') kind = "shared";
          else if (path.startsWith("/")
              && !path.startsWith("/memfd:")
              && !path.endsWith("(deleted)")) kind = "image";
          else if (path.equals("[vdso]") || path.equals("[vvar]") || path.equals("[vsyscall]"))
            kind = "image";
          else kind = "anonymous";
          acc.computeIfAbsent(kind, k -> new long[2]);
          continue;
        }
        if (kind == null) continue;
        String name = line.substring(0, colon);
        long v = referenceKb(line.substring(colon + 1));
        if (name.equals("Size")) acc.get(kind)[0] += v;
        else if (name.equals("Rss") || name.equals("Swap")) acc.get(kind)[1] += v;
      }
    }
    Map<String, ProcCounters.Region> out = new TreeMap<>();
    acc.forEach((k, v) -> out.put(k, new ProcCounters.Region(v[0], v[1])));
    return out;
  }

  /**
   * Mutations of this JVM's real smaps (bytes changed, removed, doubled, lines cut and joined)
   * parsed by the byte parser and by a plain string reading of the same rules: the two agree on
   * every case, and nothing throws or goes negative.
   */
  @Test
  void fuzzedSmapsAgreeWithAStringReadingOfTheSameRules() throws Exception {
    byte[] real = Files.readAllBytes(Path.of("/proc/self/smaps"));
    Random rnd = new Random(20261206);
    byte[] alphabet =
        "0123456789abcdef-: \t\n/[]()kBsSizeRwpPrivate_DirtyCleanSwap\0\u00ff"
            .getBytes(StandardCharsets.ISO_8859_1);
    int cases = 0;
    for (int c = 0; c < 400; c++) {
      int start = rnd.nextInt(real.length);
      int len = Math.min(real.length - start, 200 + rnd.nextInt(6000));
      byte[] b = java.util.Arrays.copyOfRange(real, start, start + len);
      int edits = rnd.nextInt(20);
      for (int e = 0; e < edits && b.length > 0; e++) {
        int at = rnd.nextInt(b.length);
        switch (rnd.nextInt(4)) {
          case 0 -> b[at] = alphabet[rnd.nextInt(alphabet.length)];
          case 1 -> b[at] = (byte) rnd.nextInt(256);
          case 2 -> b = splice(b, at, rnd.nextInt(Math.min(40, b.length - at) + 1), new byte[0]);
          default ->
              b =
                  splice(
                      b,
                      at,
                      0,
                      java.util.Arrays.copyOfRange(
                          b, at, Math.min(b.length, at + rnd.nextInt(300))));
        }
      }
      // Read in chunks of random sizes (a line split across reads), and sometimes cut by a limit.
      long limit = rnd.nextInt(3) == 0 ? rnd.nextInt(b.length + 2) : Smaps.MAX_BYTES;
      Smaps.Summary got = Smaps.parse(chunked(b, rnd), limit);
      Smaps.Summary want = reference(new String(b, StandardCharsets.ISO_8859_1), limit);
      assertThat(got).as("case %d", c).isEqualTo(want);
      if (got != null) {
        assertThat(got.privateBytes()).isNotNegative();
        got.regions()
            .values()
            .forEach(
                r -> {
                  assertThat(r.reservedBytes()).isNotNegative();
                  assertThat(r.committedBytes()).isNotNegative();
                });
      }
      cases++;
    }
    assertThat(cases).isEqualTo(400);
  }

  /** The rules Smaps implements, read the slow and obvious way. */
  private static Smaps.Summary reference(String whole, long limit) {
    boolean ended = whole.length() <= limit;
    String text = ended ? whole : whole.substring(0, (int) limit);
    if (!ended) text = text.substring(0, text.lastIndexOf('\n') + 1); // the cut line does not count
    Map<String, long[]> kinds = new TreeMap<>();
    long priv = 0;
    long[] cur = null;
    String[] lines = text.split("\n", -1);
    int last = text.endsWith("\n") ? lines.length - 1 : lines.length;
    for (int i = 0; i < last; i++) {
      String line =
          lines[i].length() > Smaps.MAX_LINE ? lines[i].substring(0, Smaps.MAX_LINE) : lines[i];
      if (line.isEmpty() && i == last - 1 && !text.endsWith("\n")) break;
      int colon = line.indexOf(':');
      int dash = line.indexOf('-');
      if (colon < 0
          || (dash > 0 && dash < colon && "0123456789abcdef".indexOf(line.charAt(0)) >= 0)) {
        cur = kinds.computeIfAbsent(referenceKind(line), k -> new long[2]);
        continue;
      }
      if (cur == null) continue;
      String name = line.substring(0, colon);
      long v = referenceKb(line.substring(colon + 1));
      switch (name) {
        case "Size" -> cur[0] = sat(cur[0], v);
        case "Rss" -> cur[1] = sat(cur[1], v);
        case "Swap" -> {
          cur[1] = sat(cur[1], v);
          priv = sat(priv, v);
        }
        case "Private_Clean", "Private_Dirty" -> priv = sat(priv, v);
        default -> {}
      }
    }
    if (kinds.isEmpty()) return null;
    Map<String, ProcCounters.Region> out = new TreeMap<>();
    kinds.forEach((k, v) -> out.put(k, new ProcCounters.Region(v[0], v[1])));
    return new Smaps.Summary(priv, out, ended);
  }

  private static String referenceKind(String header) {
    String[] f =
        header.replaceAll("^[\\x00-\\x20]+|[\\x00-\\x20]+$", "").split("[\\x00-\\x20]+", 6);
    String perms = f.length > 1 ? f[1] : "";
    String path = f.length > 5 ? f[5] : "";
    if (path.equals("[heap]")) return "heap";
    if (path.startsWith("[stack")) return "stack";
    if (perms.length() > 3 && perms.charAt(3) == 's') return "shared";
    if (path.startsWith("/") && !path.startsWith("/memfd:") && !path.endsWith("(deleted)"))
      return "image";
    if (path.equals("[vdso]") || path.equals("[vvar]") || path.equals("[vsyscall]")) return "image";
    return "anonymous";
  }

  private static long referenceKb(String s) {
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("[0-9]{1,18}").matcher(s);
    if (!m.find()) return 0;
    long v = Long.parseLong(m.group());
    return v > Long.MAX_VALUE / 1024 ? Long.MAX_VALUE : v * 1024;
  }

  private static long sat(long a, long b) {
    long r = a + b;
    return r < 0 ? Long.MAX_VALUE : r;
  }

  private static byte[] splice(byte[] b, int at, int remove, byte[] insert) {
    byte[] out = new byte[b.length - remove + insert.length];
    System.arraycopy(b, 0, out, 0, at);
    System.arraycopy(insert, 0, out, at, insert.length);
    System.arraycopy(b, at + remove, out, at + insert.length, b.length - at - remove);
    return out;
  }

  /** A stream that hands out its bytes in reads of 1 to 300 bytes. */
  private static InputStream chunked(byte[] b, Random rnd) {
    return new ByteArrayInputStream(b) {
      @Override
      public synchronized int read(byte[] into, int off, int len) {
        return super.read(into, off, Math.min(len, 1 + rnd.nextInt(300)));
      }
    };
  }

  private static InputStream bytes(String s) {
    return new ByteArrayInputStream(s.getBytes(StandardCharsets.ISO_8859_1));
  }
}
