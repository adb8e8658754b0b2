package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Exact mode stays byte-exact with 4 churning threads, realloc in the mix, and a forked child
 * tracked on its own.
 */
class ForkEndToEndTest {
  @Test
  void parentAndForkedChildAreEachExact() throws Exception {
    try (LocalStack stack = LocalStack.start(LocalStack.Options.headless())) {
      ProcessBuilder pb =
          new ProcessBuilder(
                  Home.nativeDir().resolve("churn").toString(),
                  "-t",
                  "4",
                  "-p",
                  "50000",
                  "-m",
                  "realloc",
                  "-n",
                  "100",
                  "-s",
                  "1000",
                  "-k",
                  "3",
                  "-f")
              .redirectErrorStream(true)
              .redirectOutput(ProcessBuilder.Redirect.DISCARD);
      pb.environment().put("LD_PRELOAD", Home.agent().toString());
      pb.environment().put("LEAKWATCH_RUN_DIR", stack.runDir.toString());
      pb.environment().put("LEAKWATCH_SAMPLE_BYTES", "0");
      Process p = pb.start();
      assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
      assertThat(p.exitValue()).isZero();

      List<JsonNode> reports = new ArrayList<>();
      long deadline = System.currentTimeMillis() + 120_000;
      while (System.currentTimeMillis() < deadline) {
        reports.clear();
        for (ObjectNode proc :
            stack.streams.reports().processes().stream().map(Targets::json).toList()) {
          if (!proc.get("name").asText().equals("churn") || !proc.get("exited").asBoolean())
            continue;
          Optional<ObjectNode> r =
              stack
                  .streams
                  .reports()
                  .report(proc.get("host").asText(), proc.get("pid").asInt())
                  .map(Targets::json);
          if (r.isPresent() && r.get().path("stacksResolved").asBoolean()) reports.add(r.get());
        }
        if (reports.size() == 2) break;
        Thread.sleep(200);
      }
      assertThat(reports).as("parent and child exit reports").hasSize(2);
      long parentPid = p.pid();
      boolean sawChild = false;
      for (JsonNode r : reports) {
        assertThat(r.path("tracking").path("lostEvents").asLong())
            .as("lost events; tracking " + r.path("tracking"))
            .isZero();
        // Exact mode records every free; frees of blocks from before tracking began (the child's
        // inheritance, the loader's early allocations) are counted as unknown and change nothing.
        long leak = 0, keys = 0;
        for (JsonNode s : r.path("stacks")) {
          String frames = s.path("frames").toString();
          if (frames.contains("\"leak_blocks\"")) leak += s.path("bytes").asLong();
          if (frames.contains("\"forget_key_destroy\"")) keys += s.path("allocations").asLong();
        }
        assertThat(leak).isEqualTo(100 * 1000);
        assertThat(keys).isEqualTo(3);
        if (r.path("process").path("pid").asLong() != parentPid) sawChild = true;
      }
      assertThat(sawChild).isTrue();
    }
  }
}
