package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The collector drops allocations freed within its grace period (1 s) together with their frees;
 * blocks freed just before, around and after it, and blocks never freed: the exit report is exact.
 */
class ShortLivedPairsEndToEndTest {
  @Test
  void blocksFreedAroundTheGracePeriodLeaveExactTotals() throws Exception {
    try (LocalStack stack = LocalStack.start(LocalStack.Options.headless().withPairGraceMs(1000))) {
      Process p =
          Targets.tracked(stack.runDir, Home.nativeDir().resolve("lifetimes").toString())
              .redirectOutput(ProcessBuilder.Redirect.DISCARD)
              .start();
      assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
      JsonNode r =
          Targets.awaitExitReport(
              () -> stack.streams.reports().report(stack.host, (int) p.pid()).map(Targets::json),
              60_000);
      long pairs = stack.collector.pairsDropped();
      System.out.println(
          "short-lived pairs: "
              + pairs
              + " dropped in the collector; outstanding outside the C library "
              + Targets.outstandingOutsideCLibrary(r)
              + " bytes; tracking "
              + r.path("tracking"));
      assertThat(Targets.outstandingOutsideCLibrary(r)).isEqualTo(200_594);
      assertThat(r.path("tracking").path("lostEvents").asLong()).isZero();
      assertThat(pairs)
          .as("the blocks freed after 0.5 s died in the collector")
          .isGreaterThanOrEqualTo(200);
    }
  }
}
