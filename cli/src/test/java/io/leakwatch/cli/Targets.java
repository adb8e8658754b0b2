package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Tracked target programs for the end-to-end tests, and what the tests read back about them. */
final class Targets {
  private static final Pattern LEAKED_KEYS = Pattern.compile("leaked (\\d+) keys");

  private Targets() {}

  /**
   * A command with the shim preloaded, its ring in {@code runDir}, exact tracking (override in the
   * environment).
   */
  /**
   * Outstanding bytes less the C library's own: stdio buffers and other caches glibc keeps for the
   * process's life (the shim no longer frees them at exit with __libc_freeres, which was unsafe
   * with threads and later destructors still using them), allocated by libc.so.6 or the dynamic
   * loader (the DTVs of cached thread stacks).
   */
  static long outstandingOutsideCLibrary(com.fasterxml.jackson.databind.JsonNode report) {
    long bytes = report.path("outstanding").path("bytes").asLong();
    for (com.fasterxml.jackson.databind.JsonNode s : report.path("stacks")) {
      if (cRuntime(s)) bytes -= s.path("bytes").asLong();
    }
    return bytes;
  }

  /** A stack whose allocator is the C runtime itself (libc, the dynamic loader). */
  static boolean cRuntime(com.fasterxml.jackson.databind.JsonNode stack) {
    String a = stack.path("allocator").asText();
    return a.equals("libc.so.6") || a.startsWith("ld-linux");
  }

  static ProcessBuilder tracked(Path runDir, String... command) {
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    pb.environment().put("LD_PRELOAD", Home.agent().toString());
    pb.environment().put("LEAKWATCH_RUN_DIR", runDir.toString());
    pb.environment().put("LEAKWATCH_SAMPLE_BYTES", "0");
    return pb;
  }

  /** The demo service, tracked exactly, for {@code seconds} at {@code rate} requests a second. */
  static ProcessBuilder demo(Path runDir, int seconds, int rate) {
    return tracked(
        runDir, Home.demoService().toString(), Integer.toString(seconds), Integer.toString(rate));
  }

  /**
   * The demo service's own count of the keys it forgot to destroy (it prints it at exit); waits for
   * the exit.
   */
  static long leakedKeys(Process demo) throws Exception {
    String out = new String(demo.getInputStream().readAllBytes());
    assertThat(demo.waitFor(60, TimeUnit.SECONDS)).isTrue();
    Matcher m = LEAKED_KEYS.matcher(out);
    assertThat(m.find()).as(out).isTrue();
    return Long.parseLong(m.group(1));
  }

  /** Outstanding bytes of the stacks that have {@code function} among their frames. */
  static long bytesOfStacksCalling(JsonNode report, String function) {
    long bytes = 0;
    for (JsonNode s : report.path("stacks")) {
      for (JsonNode f : s.path("frames")) {
        if (f.path("function").asText().equals(function)) {
          bytes += s.path("bytes").asLong();
          break;
        }
      }
    }
    return bytes;
  }

  /**
   * Polls {@code report} until it says the process exited and every stack is named; null after the
   * timeout.
   */
  /** A typed report (or process summary) as its JSON, the contract the tests check. */
  static com.fasterxml.jackson.databind.node.ObjectNode json(Object typed) {
    return io.leakwatch.streams.report.model.ReportJson.MAPPER.valueToTree(typed);
  }

  static JsonNode awaitExitReport(Supplier<Optional<? extends JsonNode>> report, long timeoutMs)
      throws InterruptedException {
    long deadline = System.currentTimeMillis() + timeoutMs;
    while (System.currentTimeMillis() < deadline) {
      Optional<? extends JsonNode> r;
      try {
        r = report.get();
      } catch (RuntimeException e) {
        r = Optional.empty(); // a store restoring or rebalancing: ask again
      }
      if (r.isPresent()
          && r.get().path("process").path("exited").asBoolean()
          && r.get().path("stacksResolved").asBoolean()) {
        return r.get();
      }
      Thread.sleep(200);
    }
    return null;
  }
}
