package io.leakwatch.collector.symbols;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.collector.NativeRuns;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ElfSymbolsTest {
  private static String readelfBuildId(Path file) throws Exception {
    Process p =
        new ProcessBuilder("readelf", "-n", file.toString()).redirectErrorStream(true).start();
    try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()))) {
      String line;
      while ((line = r.readLine()) != null) {
        int at = line.indexOf("Build ID:");
        if (at >= 0) return line.substring(at + 9).trim();
      }
    }
    return null;
  }

  @Test
  void findsFunctionsAndTheBuildId() throws Exception {
    Path churn = NativeRuns.churn();
    ElfSymbols syms = ElfSymbols.load(churn);
    long leak = syms.address("leak_blocks");
    assertThat(leak).isPositive();
    assertThat(syms.lookup(leak).name()).isEqualTo("leak_blocks");
    assertThat(syms.lookup(leak + 5)).isEqualTo(new ElfSymbols.Hit("leak_blocks", 5));
    assertThat(syms.buildId()).isEqualTo(readelfBuildId(churn));
  }

  @Test
  void strippedSystemLibraryStillHasItsDynamicSymbols() throws Exception {
    Path libc = Path.of("/lib/x86_64-linux-gnu/libc.so.6");
    ElfSymbols syms = ElfSymbols.load(libc);
    assertThat(syms.address("malloc")).isPositive();
    assertThat(syms.lookup(syms.address("strdup") + 1).name()).isIn("strdup", "__strdup");
  }

  @Test
  void notElfOrMissingGivesAnEmptyTable() throws Exception {
    assertThat(ElfSymbols.load(Path.of("/nonexistent/file")).size()).isZero();
    assertThat(ElfSymbols.parse(ByteBuffer.wrap("#!/bin/sh\necho hi\n".getBytes())).size())
        .isZero();
    assertThat(ElfSymbols.parse(ByteBuffer.allocate(0)).size()).isZero();
  }

  @Test
  void corruptBinariesNeverThrow() throws Exception {
    byte[] original = Files.readAllBytes(NativeRuns.churn());
    ByteBuffer head = ByteBuffer.wrap(original).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    int shoff = (int) head.getLong(0x28);
    SplittableRandom rnd = new SplittableRandom(7);
    int parsed = 0;
    for (int c = 0; c < 20_000; c++) {
      byte[] img = original.clone();
      int flips = 1 + rnd.nextInt(8);
      for (int f = 0; f < flips; f++) {
        int off =
            switch (rnd.nextInt(3)) {
              case 0 -> rnd.nextInt(64); // ELF header
              case 1 -> shoff + rnd.nextInt(Math.max(1, img.length - shoff)); // section headers
              default -> rnd.nextInt(img.length);
            };
        img[off] = (byte) rnd.nextInt(256);
      }
      if (rnd.nextInt(10) == 0)
        img = java.util.Arrays.copyOf(img, rnd.nextInt(img.length)); // truncated
      ElfSymbols s = ElfSymbols.parse(ByteBuffer.wrap(img));
      if (s.size() > 0) parsed++;
      s.lookup(rnd.nextLong());
      ElfSymbols headers = ElfSymbols.parse(ByteBuffer.wrap(img), false);
      assertThat(headers.buildId()).isEqualTo(s.buildId());
    }
    assertThat(parsed).isPositive();
  }

  /**
   * Fedora's MiniDebugInfo: the stripped program with an xz-compressed ELF of its .symtab in a
   * .gnu_debugdata section, made with the distribution's recipe (objcopy, xz).
   */
  private static Path withMiniDebugInfo(Path dir) throws Exception {
    Path mini = dir.resolve("mini.debug");
    InlineLeakProgram.run(
        "objcopy", "--strip-debug", InlineLeakProgram.DEBUG.toString(), mini.toString());
    InlineLeakProgram.run("xz", "-k", mini.toString());
    Path binary = dir.resolve("inline-leak");
    InlineLeakProgram.run(
        "objcopy",
        "--add-section",
        ".gnu_debugdata=" + dir.resolve("mini.debug.xz"),
        InlineLeakProgram.STRIPPED.toString(),
        binary.toString());
    return binary;
  }

  /** The stripped program with a .gnu_debuglink to its debug file (objcopy). */
  private static Path withDebugLink(Path dir) throws Exception {
    Path linked = dir.resolve("linked");
    InlineLeakProgram.run(
        "objcopy",
        "--add-gnu-debuglink=" + InlineLeakProgram.DEBUG,
        InlineLeakProgram.STRIPPED.toString(),
        linked.toString());
    return linked;
  }

  @Test
  void aStrippedBinaryNamesItsFunctionsFromMiniDebugInfo(@TempDir Path dir) throws Exception {
    assertThat(ElfSymbols.load(InlineLeakProgram.STRIPPED).address("open_session")).isEqualTo(-1);
    long expected = ElfSymbols.load(InlineLeakProgram.PROGRAM).address("open_session");

    ElfSymbols syms = ElfSymbols.load(withMiniDebugInfo(dir));

    assertThat(syms.debugSections().miniDebugInfo()).isTrue();
    assertThat(syms.address("open_session")).isEqualTo(expected);
    assertThat(syms.lookup(expected + 0x11)).isEqualTo(new ElfSymbols.Hit("open_session", 0x11));
    assertThat(syms.buildId()).isEqualTo(InlineLeakProgram.buildId());
  }

  @Test
  void whereTheDebugInfoIsSaysDwarfAndDebugLink(@TempDir Path dir) throws Exception {
    assertThat(ElfSymbols.load(InlineLeakProgram.PROGRAM).debugSections().hasDwarf()).isTrue();
    assertThat(ElfSymbols.load(InlineLeakProgram.STRIPPED).debugSections().hasDwarf()).isFalse();
    assertThat(ElfSymbols.load(InlineLeakProgram.DEBUG).debugSections().hasDwarf()).isTrue();
    Path linked = withDebugLink(dir);
    ElfSymbols.DebugSections d = ElfSymbols.load(linked).debugSections();
    assertThat(d.debugLink()).isEqualTo("inline-leak.debug");
    assertThat(Integer.toUnsignedLong(d.debugLinkCrc()))
        .isEqualTo(DebugFiles.crc32(InlineLeakProgram.DEBUG));
  }

  @Test
  void theHeadersAloneSayWhatTheFullParseSaysOfTheBuildIdAndDebugInfo(@TempDir Path dir)
      throws Exception {
    Path linked = withDebugLink(dir);
    for (Path file :
        List.of(
            InlineLeakProgram.PROGRAM,
            InlineLeakProgram.STRIPPED,
            InlineLeakProgram.DEBUG,
            linked,
            withMiniDebugInfo(dir),
            Path.of("/lib/x86_64-linux-gnu/libc.so.6"))) {
      ElfSymbols full = ElfSymbols.load(file);
      ElfSymbols headers = ElfSymbols.loadHeaders(file);
      assertThat(headers.size()).as(file.toString()).isZero();
      assertThat(headers.buildId()).as(file.toString()).isEqualTo(full.buildId()).isNotNull();
      assertThat(headers.debugSections()).as(file.toString()).isEqualTo(full.debugSections());
    }
  }

  @Test
  void corruptMiniDebugInfoNeverThrowsAndKeepsTheDynamicSymbols(@TempDir Path dir)
      throws Exception {
    byte[] original = Files.readAllBytes(withMiniDebugInfo(dir));
    byte[] xz = Files.readAllBytes(dir.resolve("mini.debug.xz"));
    int at = indexOf(original, xz);
    assertThat(at).isPositive();
    SplittableRandom rnd = new SplittableRandom(13);
    for (int c = 0; c < 2_000; c++) {
      byte[] img = original.clone();
      for (int f = 1 + rnd.nextInt(6); f > 0; f--)
        img[at + rnd.nextInt(xz.length)] = (byte) rnd.nextInt(256);
      ElfSymbols s = ElfSymbols.parse(ByteBuffer.wrap(img));
      assertThat(s.buildId()).isEqualTo(InlineLeakProgram.buildId());
      s.lookup(rnd.nextLong());
    }
  }

  private static int indexOf(byte[] hay, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= hay.length; i++) {
      for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
      return i;
    }
    return -1;
  }
}
