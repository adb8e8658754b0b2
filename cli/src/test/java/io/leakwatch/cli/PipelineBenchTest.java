package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@code bench pipeline} end to end on a small fleet (a real broker and streams-app): the
 * collectors' records made ahead and replayed at a rate, every process applied (the bench waits for
 * each process's last sequence), the collectors' arithmetic whole (every shim event published or
 * dropped with its pair), and the summary line in the format that docs/BENCHMARKS.md and scripts
 * read.
 */
class PipelineBenchTest {
  private static final Pattern LINE =
      Pattern.compile(
          "^pipeline: events=(\\d+) seconds=\\d+\\.\\d events_per_s=\\d+ p99_visible_ms=-?\\d+$",
          Pattern.MULTILINE);
  private static final Pattern COLLECTORS =
      Pattern.compile(
          "^collectors \\(records made ahead\\): realistic lifetimes, grace 1000 ms: (\\d+) shim"
              + " events, (\\d+) pairs dropped, (\\d+) events published",
          Pattern.MULTILINE);

  @Test
  void aSmallFleetMadeAheadAndReplayedAtARate() throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p =
        new ProcessBuilder(
                List.of(
                    java,
                    "-Xmx1g",
                    "-Dleakwatch.home=" + Home.root(),
                    "-cp",
                    System.getProperty("java.class.path"),
                    "io.leakwatch.cli.Main",
                    "bench",
                    "pipeline",
                    "--hosts",
                    "20",
                    "--events",
                    "60000",
                    "--batch",
                    "40",
                    "--rate",
                    "20000"))
            .redirectErrorStream(true)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(240, TimeUnit.SECONDS)).as(out).isTrue();
    System.out.println(out);
    assertThat(p.exitValue()).as(out).isZero();
    assertThat(out).contains("made ahead in");

    Matcher line = LINE.matcher(out);
    assertThat(line.find()).as(out).isTrue();
    long events = Long.parseLong(line.group(1));
    assertThat(events).isGreaterThanOrEqualTo(60_000);

    Matcher c = COLLECTORS.matcher(out);
    assertThat(c.find()).as(out).isTrue();
    long shim = Long.parseLong(c.group(1)), pairs = Long.parseLong(c.group(2));
    long published = Long.parseLong(c.group(3));
    assertThat(shim).isEqualTo(events);
    assertThat(pairs).as("realistic lifetimes: most blocks die within the grace").isPositive();
    assertThat(published + 2 * pairs)
        .as("every shim event published or dropped with its pair")
        .isEqualTo(shim);
  }
}
