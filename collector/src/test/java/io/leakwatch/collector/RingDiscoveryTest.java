package io.leakwatch.collector;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.collector.proc.CommandRedaction;
import io.leakwatch.collector.proc.ProcessNames;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Finding rings in the run directory, when following one of them fails. */
class RingDiscoveryTest {
  @TempDir Path tmp;

  private List<Path> rings(int n) throws Exception {
    Path made = Files.createDirectories(tmp.resolve("made"));
    for (int i = 0; i < n; i++)
      NativeRuns.run(made, 0, 65536, NativeRuns.churn().toString(), "-t", "1", "-p", "50");
    try (var files = Files.list(made)) {
      return files.filter(f -> f.toString().endsWith(".ring")).sorted().toList();
    }
  }

  private static long mappingsOf(Path file) throws Exception {
    return Files.readAllLines(Path.of("/proc/self/maps")).stream()
        .filter(l -> l.endsWith(file.toString()))
        .count();
  }

  @Test
  void aRingThatCannotBeFollowedIsUnmappedAndTriedAgainWithoutStoppingTheOthers() throws Exception {
    Path runDir = Files.createDirectories(tmp.resolve("run"));
    List<Path> made = rings(2);
    assertThat(made).hasSize(2);
    for (Path r : made) Files.copy(r, runDir.resolve(r.getFileName()));
    Path failing = runDir.resolve(made.get(0).getFileName());
    Path other = runDir.resolve(made.get(1).getFileName());
    TrackedRings rings = new TrackedRings();
    AtomicInteger failures = new AtomicInteger(2);
    RingDiscovery discovery =
        new RingDiscovery(
            runDir,
            rings,
            ring -> {
              if (ring.path().equals(failing) && failures.getAndDecrement() > 0)
                throw new IllegalStateException("a /proc read failed");
              return new TrackedProcess(
                  ring,
                  "h",
                  ProcessNames.DEFAULT,
                  CommandRedaction.DEFAULT,
                  0,
                  new LongAdder(),
                  null);
            });
    try {
      discovery.discover();
      assertThat(rings.contains(other)).as("the other ring is found in the same scan").isTrue();
      assertThat(rings.contains(failing)).isFalse();
      assertThat(mappingsOf(failing)).as("the failed ring's mapping is gone at once").isZero();
      discovery.discover();
      assertThat(rings.contains(failing)).isFalse();
      assertThat(mappingsOf(failing)).isZero();
      discovery.discover();
      assertThat(rings.contains(failing)).as("followed once it can be").isTrue();
      assertThat(discovery.refusedCount()).isZero();
    } finally {
      rings.closeAll();
    }
  }
}
