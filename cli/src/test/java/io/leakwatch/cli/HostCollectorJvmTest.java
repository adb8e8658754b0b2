package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * A host's collector runs with one set of JVM options wherever it is started: the launcher's
 * default for {@code leakwatch collector}, the container image, the systemd unit in the operations
 * guide, and the benchmarks that measure what it costs a service beside it. A benchmark run with
 * other options would measure a collector no host runs.
 */
class HostCollectorJvmTest {
  private static final Path REPO = Path.of("..").toAbsolutePath().normalize();

  private static String group(String text, String regex, String where) {
    Matcher m = Pattern.compile(regex, Pattern.MULTILINE).matcher(text);
    assertThat(m.find()).as("%s: no match for %s", where, regex).isTrue();
    return m.group(1);
  }

  private static List<String> words(String s) {
    return Arrays.asList(s.trim().split("\\s+"));
  }

  @Test
  void launcherDockerfileUnitAndBenchmarksAgree() throws Exception {
    List<String> bench = BenchSupport.HOST_COLLECTOR_JVM;

    String launcher = Files.readString(REPO.resolve("leakwatch"));
    assertThat(words(group(launcher, "^HOST_COLLECTOR_JVM=\"([^\"]*)\"", "leakwatch")))
        .as("the launcher's default for `leakwatch collector`")
        .isEqualTo(bench);
    assertThat(launcher)
        .contains("[ \"${1:-}\" = collector ] && DEFAULT_JAVA_OPTS=\"$HOST_COLLECTOR_JVM\"");

    String dockerfile = Files.readString(REPO.resolve("collector/Dockerfile"));
    String entry =
        group(dockerfile, "^ENTRYPOINT \\[\"java\", (.*), \"-cp\"", "collector/Dockerfile");
    assertThat(words(entry.replace("\"", "").replace(",", " ")))
        .as("collector/Dockerfile's ENTRYPOINT")
        .isEqualTo(bench);

    String ops = Files.readString(REPO.resolve("docs/operations.md"));
    assertThat(
            words(
                group(ops, "^Environment=\"LEAKWATCH_JAVA_OPTS=([^\"]*)\"", "docs/operations.md")))
        .as("the systemd unit in docs/operations.md")
        .isEqualTo(bench);
  }
}
