package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.collector.CollectorMain;
import io.leakwatch.streams.StreamsAppMain;
import io.leakwatch.streams.StreamsOptions;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * The daemons started on their own (containers, systemd units) and through {@code ./leakwatch} take
 * the same options with the same defaults: they share one option class each.
 */
class EntryPointsTest {
  private static Set<String> options(CommandLine c) {
    Set<String> names = new TreeSet<>();
    for (CommandLine.Model.OptionSpec o : c.getCommandSpec().options()) {
      if (o.usageHelp() || o.versionHelp()) continue;
      names.add(o.longestName() + "=" + o.defaultValue());
    }
    return names;
  }

  @Test
  void standaloneAndCliDaemonsShareOptionsAndDefaults() {
    CommandLine cli = new CommandLine(new Main());
    assertThat(options(new CommandLine(new StreamsAppMain())))
        .isEqualTo(options(cli.getSubcommands().get("streams")))
        .contains("--state-dir=null", "--http-port=8080", "--bind=127.0.0.1");
    assertThat(options(new CommandLine(new CollectorMain())))
        .isEqualTo(options(cli.getSubcommands().get("collector")))
        .contains("--run-dir=null", "--config=null");
  }

  @Test
  void theStateDirectoryIsNeverTheCurrentDirectory() {
    Path d = StreamsOptions.defaultStateDir();
    assertThat(d.isAbsolute()).isTrue();
    assertThat(d.endsWith(Path.of("leakwatch", "streams"))).isTrue();
    assertThat(
            d.startsWith(Path.of("").toAbsolutePath())
                && !d.startsWith(Path.of(System.getProperty("user.home"))))
        .as("not under the working directory")
        .isFalse();
  }

  @Test
  void aBadValueIsAUsageErrorWithTheReason() {
    var err = new java.io.StringWriter();
    CommandLine c = new CommandLine(new StreamsAppMain());
    c.setErr(new java.io.PrintWriter(err));
    assertThat(c.execute("--bootstrap", "k:9092", "--store", "floppy")).isEqualTo(2);
  }
}
