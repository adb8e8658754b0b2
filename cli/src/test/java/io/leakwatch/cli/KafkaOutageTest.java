package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.leakwatch.collector.ring.RingFile;
import io.leakwatch.collector.ring.RingLayout;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * Kafka unreachable for 60 seconds while two targets keep allocating (exact mode). The ring is the
 * collector's bounded buffer: a target whose ring holds the outage ends exact with nothing lost; a
 * target with a 1 MiB ring overflows, and the report's lost count is exactly what its shim dropped.
 */
class KafkaOutageTest {
  private static final long OUTAGE_MS = 60_000;

  private static Process leakyService(LocalStack stack, String ringBytes) throws Exception {
    ProcessBuilder pb = Targets.demo(stack.runDir, 85, 150);
    if (ringBytes != null) pb.environment().put("LEAKWATCH_RING_BYTES", ringBytes);
    return pb.start();
  }

  /** The shim's own count of records it dropped, read from its ring while the process runs. */
  private static long droppedByShim(Path runDir, long pid) throws Exception {
    try (DirectoryStream<Path> rings = Files.newDirectoryStream(runDir, "leakwatch-*.ring")) {
      for (Path p : rings) {
        try (RingFile r = RingFile.open(p)) {
          if (r.pid() == pid) {
            return r.stat(RingLayout.STAT_DROPPED_FULL) + r.stat(RingLayout.STAT_DROPPED_OVERSIZE);
          }
        }
      }
    }
    return -1;
  }

  private static JsonNode exitReport(LocalStack stack, long pid) throws Exception {
    return Targets.awaitExitReport(
        () -> stack.streams.reports().report(stack.host, (int) pid).map(Targets::json), 120_000);
  }

  @Test
  void sixtySecondsWithoutKafkaLoseNothingTheRingCanHoldAndCountTheRest() throws Exception {
    try (LocalStack stack = LocalStack.start(LocalStack.Options.headless())) {
      Process roomy = leakyService(stack, null); // the exact-mode default ring: 256 MiB
      Process cramped = leakyService(stack, Long.toString(1 << 20));
      try {
        Thread.sleep(8_000); // both followed, events flowing
        long t0 = System.nanoTime();
        stack.kafka.stop();
        System.out.println("kafka outage: broker stopped");
        Thread.sleep(OUTAGE_MS);
        stack.kafka.restart();
        System.out.printf(
            "kafka outage: broker back after %.1f s%n", (System.nanoTime() - t0) / 1e9);
        Thread.sleep(8_000); // the backlog drains; no more drops from here on
        long shimDropped = droppedByShim(stack.runDir, cramped.pid());
        long roomyDropped = droppedByShim(stack.runDir, roomy.pid());

        long roomyLeaked = Targets.leakedKeys(roomy);
        long crampedLeaked = Targets.leakedKeys(cramped);
        JsonNode r = exitReport(stack, roomy.pid());
        JsonNode c = exitReport(stack, cramped.pid());
        assertThat(r).as("exit report of the roomy target").isNotNull();
        assertThat(c).as("exit report of the cramped target").isNotNull();
        System.out.println(
            "kafka outage: roomy leaked " + roomyLeaked + " keys, tracking " + r.path("tracking"));
        System.out.println(
            "kafka outage: cramped leaked "
                + crampedLeaked
                + " keys, shim dropped "
                + shimDropped
                + ", tracking "
                + c.path("tracking"));

        assertThat(roomyDropped).isZero();
        assertThat(r.path("tracking").path("lostEvents").asLong()).isZero();
        assertThat(Targets.outstandingOutsideCLibrary(r))
            .as("exact after the outage")
            .isEqualTo(roomyLeaked * 422);

        assertThat(shimDropped).as("a 1 MiB ring cannot hold a minute").isPositive();
        assertThat(c.path("tracking").path("lostEvents").asLong())
            .as("the lost count is what the shim dropped")
            .isEqualTo(shimDropped);
      } finally {
        roomy.destroyForcibly();
        cramped.destroyForcibly();
      }
    }
  }
}
