package io.leakwatch.cli;

import io.leakwatch.collector.CollectorConfig;
import io.leakwatch.collector.CollectorMain;
import io.leakwatch.collector.CollectorOptions;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code ./leakwatch collector}: the daemon of {@link CollectorMain}, with the same options. */
@Command(
    name = "collector",
    footer = {
      "",
      "Examples:",
      "  ./leakwatch collector --bootstrap kafka:9092",
      "  ./leakwatch collector --config /etc/leakwatch/collector.yml --web-config /etc/leakwatch/web.yml"
    },
    description = "Runs the per-host collector daemon. Options given here beat the config file.")
final class CollectorCommand implements Callable<Integer> {
  @Mixin CollectorOptions options = new CollectorOptions();

  @Override
  public Integer call() throws Exception {
    CollectorConfig config;
    try {
      config = options.toConfig();
    } catch (IllegalArgumentException e) {
      System.err.println("leakwatch collector: " + e.getMessage() + " (see --help)");
      return 2;
    }
    DaemonLogging.asDaemon();
    CollectorMain.run(config);
    return 0;
  }
}
