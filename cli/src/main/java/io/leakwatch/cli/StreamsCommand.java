package io.leakwatch.cli;

import io.leakwatch.streams.StreamsAppConfig;
import io.leakwatch.streams.StreamsAppMain;
import io.leakwatch.streams.topology.LeakTopology;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "streams", description = "Runs the streams-app: /metrics, report page and API.")
final class StreamsCommand implements Callable<Integer> {
  @Option(names = "--bootstrap", required = true, description = "Kafka bootstrap servers, H:P")
  String bootstrap;

  @Option(
      names = "--http-port",
      defaultValue = "8080",
      description = "port on 127.0.0.1 (default ${DEFAULT-VALUE})")
  int httpPort;

  @Option(
      names = "--state-dir",
      defaultValue = "leakwatch-streams-state",
      description = "state stores (default ${DEFAULT-VALUE})")
  Path stateDir;

  @Option(
      names = "--bind",
      defaultValue = "127.0.0.1",
      description = "HTTP address (default ${DEFAULT-VALUE}; 0.0.0.0 in a container)")
  String bind;

  @Option(
      names = "--kafka-config",
      description =
          "Kafka client settings (Java properties: security.protocol, sasl.*, ssl.*, tuning)")
  Path kafkaConfig;

  @Option(
      names = "--store",
      defaultValue = "rocksdb",
      description =
          "state stores: rocksdb (default; state on disk, quick restarts)"
              + " or memory (faster; restored from the changelogs on every start)")
  String store;

  @Option(
      names = "--commit-ms",
      description =
          "commit interval (exactly-once default 100 ms; 1000 trades a little latency for throughput)")
  Long commitMs;

  @Option(
      names = "--retire-silent-after",
      defaultValue = "86400",
      paramLabel = "SECONDS",
      description =
          "retire a live process whose host went silent (no events, no counters) this long, keeping its exit report (default ${DEFAULT-VALUE})")
  long retireSilentAfterSeconds;

  @Option(
      names = "--trend-window",
      defaultValue = "300",
      paramLabel = "SECONDS",
      description =
          "one of the twelve windows behind the leak score (default ${DEFAULT-VALUE}: the score looks at the last hour)")
  long trendWindowSeconds;

  @Override
  public Integer call() throws Exception {
    DaemonLogging.asDaemon();
    if (!store.equals("rocksdb") && !store.equals("memory")) {
      System.err.println("leakwatch streams: --store must be rocksdb or memory");
      return 2;
    }
    StreamsAppConfig config =
        StreamsAppConfig.defaults(bootstrap, stateDir.toAbsolutePath())
            .withHttpPort(httpPort)
            .withHttpBind(bind)
            .withStoreKind(
                store.equals("memory")
                    ? LeakTopology.StoreKind.IN_MEMORY
                    : LeakTopology.StoreKind.ROCKSDB);
    if (retireSilentAfterSeconds <= 0) {
      System.err.println(
          "leakwatch streams: --retire-silent-after must be a positive number of seconds");
      return 2;
    }
    config = config.withStaleAfterMs(retireSilentAfterSeconds * 1000);
    if (trendWindowSeconds <= 0) {
      System.err.println("leakwatch streams: --trend-window must be a positive number of seconds");
      return 2;
    }
    config = config.withTrendWindowMs(trendWindowSeconds * 1000);
    if (commitMs != null)
      config = config.withKafka(Map.of("commit.interval.ms", Long.toString(commitMs)));
    if (kafkaConfig != null) config = config.withKafka(StreamsAppConfig.kafkaSettings(kafkaConfig));
    StreamsAppMain.run(config);
    return 0;
  }
}
