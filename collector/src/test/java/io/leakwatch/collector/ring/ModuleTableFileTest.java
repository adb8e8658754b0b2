package io.leakwatch.collector.ring;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The module table a collector keeps beside a ring for its successor: round trip, and hostile
 * files.
 */
class ModuleTableFileTest {
  @TempDir Path dir;

  private static List<RingRecord.Module> table(int n) {
    List<RingRecord.Module> modules = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      modules.add(
          new RingRecord.Module(
              0,
              0x7f00_0000_0000L + i * 0x10_0000L,
              0x7f00_0000_1000L + i * 0x10_0000L,
              0x7f00_0000_9000L + i * 0x10_0000L,
              i == 0,
              i % 3 == 0 ? "" : i % 3 == 1 ? null : "ab" + i,
              i % 7 == 6
                  ? null
                  : "/usr/lib/lib näme "
                      + i
                      + ".so\n")); // null: named from /proc/PID/maps, no build id
    }
    return modules;
  }

  @Test
  void aSavedTableReadsBackAsSaved() throws Exception {
    Path ring = dir.resolve("leakwatch-1-2.ring");
    List<RingRecord.Module> modules = table(300);
    ModuleTableFile.save(ring, modules);
    assertThat(ModuleTableFile.of(ring).getFileName().toString())
        .isEqualTo("leakwatch-1-2.ring.modules")
        .doesNotEndWith(".ring"); // the collector's ring pattern must not pick it up
    assertThat(ModuleTableFile.load(ring)).isEqualTo(modules);
    ModuleTableFile.save(ring, modules.subList(0, 2)); // replaced, not appended
    assertThat(ModuleTableFile.load(ring)).isEqualTo(modules.subList(0, 2));
    ModuleTableFile.delete(ring);
    assertThat(ModuleTableFile.load(ring)).isEmpty();
  }

  @Test
  void aLinkOrAnotherOwnersFileIsNotRead() throws Exception {
    Path real = dir.resolve("elsewhere");
    ModuleTableFile.save(real, table(3));
    Path ring = dir.resolve("leakwatch-3-4.ring");
    Files.createSymbolicLink(ModuleTableFile.of(ring), ModuleTableFile.of(real));
    assertThat(ModuleTableFile.load(ring))
        .as("a symlink planted in the shared run directory")
        .isEmpty();
    Object owner = Files.getAttribute(ModuleTableFile.of(real), "unix:uid");
    assertThat(ModuleTableFile.load(real, (Integer) owner + 1))
        .as("a file someone else wrote")
        .isEmpty();
  }

  @Test
  void hostileBytesReadAsNoTableAndNeverThrow() throws Exception {
    Path ring = dir.resolve("leakwatch-5-6.ring");
    ModuleTableFile.save(ring, table(20));
    byte[] seed = Files.readAllBytes(ModuleTableFile.of(ring));
    SplittableRandom random = new SplittableRandom(42);
    int parsed = 0;
    for (int c = 0; c < 200_000; c++) {
      byte[] b;
      switch (c % 4) {
        case 0 -> b = java.util.Arrays.copyOf(seed, random.nextInt(seed.length + 1)); // truncated
        case 1 -> {
          b = seed.clone();
          for (int k = 1 + random.nextInt(8); k > 0; k--)
            b[random.nextInt(b.length)] = (byte) random.nextInt(256);
        }
        case 2 -> {
          b = seed.clone(); // a count or a length made huge or negative
          int at = random.nextInt(b.length - 4);
          b[at] = (byte) 0x7f;
          b[at + 1] = (byte) 0xff;
        }
        default -> {
          b = new byte[random.nextInt(256)];
          for (int i = 0; i < b.length; i++) b[i] = (byte) random.nextInt(256);
        }
      }
      List<RingRecord.Module> t = ModuleTableFile.parse(b);
      assertThat(t.size()).isLessThanOrEqualTo(ModuleTableFile.MAX_MODULES);
      if (!t.isEmpty()) parsed++;
    }
    assertThat(parsed).as("mutations that still decode (flipped addresses, names)").isPositive();
    assertThat(ModuleTableFile.parse(new byte[0])).isEmpty();
  }
}
