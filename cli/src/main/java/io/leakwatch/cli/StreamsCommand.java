package io.leakwatch.cli;

import io.leakwatch.streams.StreamsAppConfig;
import io.leakwatch.streams.StreamsAppMain;
import io.leakwatch.streams.StreamsOptions;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code ./leakwatch streams}: the daemon of {@link StreamsAppMain}, with the same options. */
@Command(
    name = "streams",
    footer = {
      "",
      "Examples:",
      "  ./leakwatch streams --bootstrap kafka:9092",
      "  ./leakwatch streams --bootstrap kafka:9092 --bind 0.0.0.0 --web-config /etc/leakwatch/web.yml"
    },
    description = "Runs the streams-app: /metrics, report page and API.")
final class StreamsCommand implements Callable<Integer> {
  @Mixin StreamsOptions options = new StreamsOptions();

  @Override
  public Integer call() throws Exception {
    StreamsAppConfig config;
    try {
      config = options.toConfig();
    } catch (IllegalArgumentException e) {
      System.err.println("leakwatch streams: " + e.getMessage() + " (see --help)");
      return 2;
    }
    DaemonLogging.asDaemon();
    StreamsAppMain.run(config);
    return 0;
  }
}
