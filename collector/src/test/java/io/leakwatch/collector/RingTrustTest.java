package io.leakwatch.collector;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.collector.ring.RingLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The ring directory is shared with every tracked user: what the collector refuses to read there.
 */
class RingTrustTest {
  @TempDir Path tmp;

  private Path realRing() throws Exception {
    List<Path> rings =
        NativeRuns.run(
            Files.createDirectories(tmp.resolve("made")),
            0,
            65536,
            NativeRuns.churn().toString(),
            "-t",
            "1",
            "-p",
            "100",
            "-n",
            "1",
            "-s",
            "10");
    assertThat(rings).hasSize(1);
    return rings.get(0);
  }

  private static Collector collector(Path runDir) {
    // No broker is needed: only discovery runs, and the producer connects lazily.
    return new Collector(
        CollectorConfig.defaults("127.0.0.1:9").withRunDir(runDir).withHttpPort(0));
  }

  @Test
  void aRingOfAProcessThatIsGoneIsFollowed() throws Exception {
    Path runDir = Files.createDirectories(tmp.resolve("run"));
    Path ring = realRing();
    Files.copy(ring, runDir.resolve(ring.getFileName()));
    try (Collector c = collector(runDir)) {
      c.discover();
      assertThat(c.followed()).isEqualTo(1);
      assertThat(c.refusedRings()).isZero();
    }
  }

  @Test
  void symlinksAreNeverFollowed() throws Exception {
    Path runDir = Files.createDirectories(tmp.resolve("run"));
    Path ring = realRing();
    Files.createSymbolicLink(runDir.resolve(ring.getFileName()), ring);
    Files.createSymbolicLink(runDir.resolve("leakwatch-1-0.ring"), Path.of("/etc/shadow"));
    try (Collector c = collector(runDir)) {
      c.discover();
      assertThat(c.followed()).isZero();
      assertThat(c.refusedRings()).isEqualTo(2);
      // A refused ring is forgotten when its file goes (a writer of the directory must not grow
      // the set without bound), and never followed while it is there.
      Files.delete(runDir.resolve("leakwatch-1-0.ring"));
      c.discover();
      assertThat(c.refusedRings()).isEqualTo(1);
      c.discover();
      assertThat(c.followed()).isZero();
    }
  }

  @Test
  void aRingThatClaimsAnotherUsersRunningProcessIsRefused() throws Exception {
    Path runDir = Files.createDirectories(tmp.resolve("run"));
    byte[] image = Files.readAllBytes(realRing());
    // Forge: pid 1 (init, root's) in a ring owned by nobody.
    ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN).putInt(RingLayout.OFF_PID, 1);
    Path forged = Files.write(runDir.resolve("leakwatch-1-forged.ring"), image);
    boolean root =
        "0".equals(String.valueOf(Files.getAttribute(Path.of("/proc/self"), "unix:uid")));
    Assumptions.assumeTrue(
        root,
        "only root can give a file to another user; as another user, rings of other owners are refused anyway");
    Files.setAttribute(forged, "unix:uid", 65534);
    try (Collector c = collector(runDir)) {
      c.discover();
      assertThat(c.followed()).isZero();
      assertThat(c.refusedRings()).isEqualTo(1);
    }
  }
}
