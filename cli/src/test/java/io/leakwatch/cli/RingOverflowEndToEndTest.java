package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A ring that overflows: drops are counted, and once the shim's resync has been applied the
 * outstanding total is exact again (the leaked blocks, nothing phantom from lost frees).
 */
class RingOverflowEndToEndTest {
  @Test
  void dropsAreCountedAndTheResyncRestoresExactTotals() throws Exception {
    long iterations = 20000;
    long leaked = 2 * (iterations / 500) * 65536L;
    try (LocalStack stack = LocalStack.start(LocalStack.Options.headless())) {
      ProcessBuilder pb =
          new ProcessBuilder(
                  Home.nativeDir().resolve("ring-overflow").toString(),
                  Long.toString(iterations),
                  "1500")
              .redirectErrorStream(true)
              .redirectOutput(ProcessBuilder.Redirect.DISCARD);
      pb.environment().put("LD_PRELOAD", Home.agent().toString());
      pb.environment().put("LEAKWATCH_RUN_DIR", stack.runDir.toString());
      pb.environment().put("LEAKWATCH_SAMPLE_BYTES", "512"); // nearly every allocation is recorded
      pb.environment().put("LEAKWATCH_RING_BYTES", "65536");
      Process p = pb.start();
      assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
      JsonNode report = null;
      long deadline = System.currentTimeMillis() + 60_000;
      while (System.currentTimeMillis() < deadline) {
        Optional<com.fasterxml.jackson.databind.node.ObjectNode> r =
            stack.streams.reports().report(stack.host, (int) p.pid()).map(Targets::json);
        if (r.isPresent()
            && r.get().path("process").path("exited").asBoolean()
            && r.get().path("stacksResolved").asBoolean()) {
          report = r.get();
          break;
        }
        Thread.sleep(200);
      }
      assertThat(report)
          .as(
              "exit report; processes: "
                  + stack.streams.reports().processes()
                  + " state "
                  + stack.streams.streams().state())
          .isNotNull();
      JsonNode t = report.path("tracking");
      System.out.println("ring overflow: " + t);
      assertThat(t.path("lostEvents").asLong()).as("the burst overflowed the ring").isPositive();
      assertThat(t.path("resyncs").asLong()).as("a resync was applied").isPositive();
      assertThat(t.path("resyncedFrees").asLong() + t.path("resyncedAllocations").asLong())
          .isPositive();
      // The C runtime's stdout buffer is sampled with a fractional weight: subtracting its rounded
      // bytes
      // from the rounded total can leave one byte either way.
      assertThat(Targets.outstandingOutsideCLibrary(report)).isBetween(leaked - 1, leaked + 1);
    }
  }
}
