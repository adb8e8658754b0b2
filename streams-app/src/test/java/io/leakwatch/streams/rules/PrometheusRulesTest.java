package io.leakwatch.streams.rules;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The alert and recording rules checked by the real promtool (Debian's prometheus package, which
 * .ci/run installs): syntax, the Prometheus config, and the rule unit tests in prometheus/tests/
 * (growth fires; a sawtooth of the same amplitude, a plateauing cache and a fresh restart stay
 * quiet; lost events fire; native growth is told from managed-heap growth). In CI a missing
 * promtool fails the build instead of skipping.
 */
class PrometheusRulesTest {
  private static final Path PROMETHEUS = Path.of("..", "prometheus").toAbsolutePath().normalize();

  @BeforeAll
  static void needPromtool() {
    boolean present = onPath("promtool");
    assertThat(present)
        .as(
            "promtool is not installed: ./run-tests installs it (apt-get install prometheus); this test is never skipped")
        .isTrue();
  }

  private static boolean onPath(String tool) {
    for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
      if (Files.isExecutable(Path.of(dir, tool))) return true;
    }
    return false;
  }

  private static String promtool(String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("promtool"));
    cmd.addAll(List.of(args));
    Process p =
        new ProcessBuilder(cmd).directory(PROMETHEUS.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
    System.out.println("$ " + String.join(" ", cmd) + "\n" + out);
    assertThat(p.exitValue()).as(out).isZero();
    return out;
  }

  @Test
  void rulesAndConfigAreValid() throws Exception {
    try (var files = Files.list(PROMETHEUS.resolve("rules"))) {
      List<String> args = new ArrayList<>(List.of("check", "rules"));
      files
          .filter(f -> f.toString().endsWith(".yml"))
          .forEach(f -> args.add("rules/" + f.getFileName()));
      assertThat(promtool(args.toArray(String[]::new))).contains("SUCCESS");
    }
    assertThat(promtool("check", "config", "prometheus.yml")).contains("SUCCESS");
  }

  @Test
  void alertUnitTestsPass() throws Exception {
    String out = promtool("test", "rules", "tests/leakwatch-alerts.test.yml");
    assertThat(out).contains("SUCCESS");
    // List the cases that passed, so the build log shows what was covered.
    for (String line : Files.readAllLines(PROMETHEUS.resolve("tests/leakwatch-alerts.test.yml"))) {
      if (line.trim().startsWith("- name:"))
        System.out.println("  passed: " + line.trim().substring(8));
    }
  }
}
