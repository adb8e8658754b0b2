package io.leakwatch.collector.symbols;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.collector.NativeRuns;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

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
    }
    assertThat(parsed).isPositive();
  }
}
