package io.leakwatch.collector.ring;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.collector.NativeRuns;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Closing a ring unmaps it at once: a retired ring's tmpfs pages are freed when its file is
 * removed, not when the garbage collector gets to a buffer it may keep for days.
 */
class RingFileCloseTest {
  @TempDir Path runDir;

  private static boolean mapped(Path ring) throws Exception {
    String name = ring.toRealPath().toString();
    return Files.readAllLines(Path.of("/proc/self/maps")).stream().anyMatch(l -> l.endsWith(name));
  }

  @Test
  void aClosedRingIsNoLongerMappedAndAnswersAsEmpty() throws Exception {
    List<Path> rings =
        NativeRuns.run(runDir, 0, 0, NativeRuns.churn().toString(), "-t", "1", "-p", "2000");
    Path path = rings.get(0);
    RingFile ring = RingFile.open(path);
    assertThat(mapped(path)).as("mapped while open").isTrue();
    assertThat(ring.unreadBytes()).isPositive();
    int pid = ring.pid();

    ring.close();
    ring.close(); // twice is harmless

    assertThat(mapped(path)).as("mapped after close").isFalse();
    assertThat(ring.unreadBytes()).isZero();
    assertThat(ring.fill()).isZero();
    assertThat(ring.pid()).as("identity fields were copied at open").isEqualTo(pid);
  }
}
