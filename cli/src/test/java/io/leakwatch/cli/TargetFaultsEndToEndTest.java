package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * What targets do to us in a fleet: get killed with SIGKILL, fork children that exec other
 * programs.
 */
class TargetFaultsEndToEndTest {
  private static LocalStack stack;

  @BeforeAll
  static void start() {
    stack = LocalStack.start(LocalStack.Options.headless());
  }

  @AfterAll
  static void stop() {
    if (stack != null) stack.close();
  }

  private static ProcessBuilder tracked(String... command) {
    return Targets.tracked(stack.runDir, command);
  }

  private static JsonNode exitReport(long pid) throws Exception {
    return exitReport(pid, null);
  }

  /**
   * The exit report of {@code pid}; with {@code name}, of its image of that name (a pid that execs
   * has several).
   */
  private static JsonNode exitReport(long pid, String name) throws Exception {
    return Targets.awaitExitReport(
        () ->
            stack
                .streams
                .reports()
                .report(stack.host, (int) pid)
                .map(Targets::json)
                .filter(r -> name == null || r.path("process").path("name").asText().equals(name)),
        60_000);
  }

  private static long bytesOfStacksCalling(JsonNode report, String function) {
    return Targets.bytesOfStacksCalling(report, function);
  }

  /** Secrets in a command line are masked by the collector: the report never sees them. */
  @Test
  void aPasswordOnTheCommandLineNeverReachesTheReport() throws Exception {
    // sh ignores the arguments after its script; they stand for a service's options.
    Process p =
        tracked(
                "/bin/sh",
                "-c",
                "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done",
                "service",
                "--port=8080",
                "--db-password=hunter2",
                "--token",
                "t0k3n",
                "postgres://app:s3cr3t@db:5432/orders")
            .redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .start();
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    JsonNode r = exitReport(p.pid());
    String command = r.path("process").path("command").asText();
    System.out.println("redacted command line in the report: " + command);
    assertThat(command)
        .contains(
            "--port=8080", "--db-password=***", "--token ***", "postgres://app:***@db:5432/orders")
        .doesNotContain("hunter2")
        .doesNotContain("t0k3n")
        .doesNotContain("s3cr3t");
    assertThat(r.toString()).doesNotContain("hunter2").doesNotContain("s3cr3t");
  }

  @Test
  void aTargetKilledWithSigkillIsRetiredAndItsExitReportKept() throws Exception {
    Process p =
        tracked(Home.demoService().toString(), "60", "300")
            .redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .start();
    Thread.sleep(5_000);
    new ProcessBuilder("kill", "-KILL", Long.toString(p.pid())).start().waitFor();
    assertThat(p.waitFor(10, TimeUnit.SECONDS)).isTrue();
    JsonNode r = exitReport(p.pid());
    assertThat(r).as("exit report of the killed target").isNotNull();
    System.out.println("target SIGKILL: " + r.path("process") + " " + r.path("tracking"));
    assertThat(r.path("process").path("cleanExit").asBoolean())
        .as("no exit record: killed")
        .isFalse();
    assertThat(r.path("tracking").path("lostEvents").asLong()).isZero();
    // What it held when it died: the forgotten keys, 422 bytes each, among the rest.
    long keys = bytesOfStacksCalling(r, "verify_signature");
    assertThat(keys).isPositive();
    assertThat(keys % 422).isZero();
    // The ring is retired (removed) and the process is listed as exited.
    try (var rings = java.nio.file.Files.list(stack.runDir)) {
      assertThat(
              rings.filter(f -> f.getFileName().toString().contains("-" + p.pid() + "-")).count())
          .isZero();
    }
    assertThat(stack.streams.reports().processes().stream().map(Targets::json).toList())
        .anySatisfy(
            proc -> {
              assertThat(proc.path("pid").asLong()).isEqualTo(p.pid());
              assertThat(proc.path("exited").asBoolean()).isTrue();
            });
  }

  @Test
  void aForkedChildThatExecsAnotherTrackedProgramIsReportedExactlyOnItsOwn() throws Exception {
    // sh (tracked) forks; its child execs churn (tracked again through the inherited LD_PRELOAD).
    String churn = Home.nativeDir().resolve("churn").toString();
    Process sh =
        tracked("/bin/sh", "-c", churn + " -t 2 -p 20000 -n 7 -s 300 -k 0 & echo child $!; wait")
            .start();
    String out = new String(sh.getInputStream().readAllBytes());
    assertThat(sh.waitFor(60, TimeUnit.SECONDS)).isTrue();
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("child (\\d+)").matcher(out);
    assertThat(m.find()).as(out).isTrue();
    long child = Long.parseLong(m.group(1));

    // The child's first image (the forked sh, replaced by exec) is retired first; churn's follows.
    JsonNode c = exitReport(child, "churn");
    assertThat(c).as("exit report of the exec'd child").isNotNull();
    System.out.println("fork+exec: child " + c.path("process") + " " + c.path("tracking"));
    assertThat(c.path("process").path("name").asText()).isEqualTo("churn");
    assertThat(c.path("tracking").path("lostEvents").asLong()).isZero();
    assertThat(bytesOfStacksCalling(c, "leak_blocks")).isEqualTo(7 * 300);
    assertThat(bytesOfStacksCalling(c, "worker"))
        .as("2 x 20,000 malloc/free pairs leave nothing")
        .isZero();

    JsonNode parent = exitReport(sh.pid());
    assertThat(parent).as("the shell's own report").isNotNull();
    assertThat(parent.path("process").path("name").asText()).isEqualTo("sh");
    assertThat(bytesOfStacksCalling(parent, "leak_blocks"))
        .as("the child's leak is not the parent's")
        .isZero();
  }
}
