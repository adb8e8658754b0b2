package io.leakwatch.streams;

import io.leakwatch.streams.topology.LeakTopology;
import io.leakwatch.web.WebConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * The streams-app's command-line options, one class for both ways of starting it ({@code
 * ./leakwatch streams} and {@link StreamsAppMain} in its container or systemd unit), so their
 * options, defaults and help are the same.
 */
public final class StreamsOptions {
  @Option(
      names = "--bootstrap",
      required = true,
      paramLabel = "H:P",
      description = "Kafka bootstrap servers")
  String bootstrap;

  @Option(
      names = "--http-port",
      defaultValue = "8080",
      paramLabel = "P",
      description = "report API, pages, /metrics, /healthz and /readyz (default ${DEFAULT-VALUE})")
  int httpPort;

  @Option(
      names = "--bind",
      defaultValue = "127.0.0.1",
      paramLabel = "ADDR",
      description = "HTTP address (default ${DEFAULT-VALUE}; 0.0.0.0 in a container)")
  String bind;

  @Option(
      names = "--state-dir",
      paramLabel = "DIR",
      description =
          "state stores (default /var/lib/leakwatch/streams as root, else $XDG_STATE_HOME/leakwatch/streams,"
              + " that is ~/.local/state/leakwatch/streams)")
  Path stateDir;

  @Option(
      names = "--web-config",
      paramLabel = "FILE",
      description =
          "TLS, basic auth (bcrypt) and read-only roles for every HTTP endpoint, in the exporter web configuration"
              + " format (as Prometheus's --web.config.file); reloaded when it changes")
  Path webConfig;

  @Option(
      names = "--kafka-config",
      paramLabel = "FILE",
      description =
          "Kafka client settings (Java properties: security.protocol, sasl.*, ssl.*, tuning)")
  Path kafkaConfig;

  @Option(
      names = "--store",
      defaultValue = "rocksdb",
      description =
          "state stores: ${COMPLETION-CANDIDATES}: rocksdb (default; state on disk, quick restarts)"
              + " or memory (faster; restored from the changelogs on every start)",
      completionCandidates = StoreChoices.class)
  String store;

  @Option(
      names = "--commit-ms",
      paramLabel = "MS",
      description =
          "commit interval (exactly-once default 100 ms; 1000 trades a little latency for throughput)")
  Long commitMs;

  @Option(
      names = "--retire-silent-after",
      defaultValue = "86400",
      paramLabel = "SECONDS",
      description =
          "retire a live process whose host went silent (no events, no counters) this long, keeping its exit report"
              + " (default ${DEFAULT-VALUE})")
  long retireSilentAfterSeconds;

  @Option(
      names = "--trend-window",
      defaultValue = "300",
      paramLabel = "SECONDS",
      description =
          "one of the twelve windows behind the leak score (default ${DEFAULT-VALUE}: the score looks at the last hour)")
  long trendWindowSeconds;

  /** The choices of --store. */
  static final class StoreChoices implements Iterable<String> {
    @Override
    public java.util.Iterator<String> iterator() {
      return java.util.List.of("rocksdb", "memory").iterator();
    }
  }

  /**
   * Where the state stores live unless told: a daemon's state directory, never the directory it
   * happens to be started in.
   */
  public static Path defaultStateDir() {
    if ("root".equals(System.getProperty("user.name")))
      return Path.of("/var/lib/leakwatch/streams");
    String xdg = System.getenv("XDG_STATE_HOME");
    Path base =
        xdg != null && !xdg.isBlank() && Path.of(xdg).isAbsolute()
            ? Path.of(xdg)
            : Path.of(System.getProperty("user.home"), ".local", "state");
    return base.resolve("leakwatch").resolve("streams");
  }

  /**
   * The configuration these options describe.
   *
   * @throws IllegalArgumentException with the reason, for a usage error
   */
  public StreamsAppConfig toConfig() {
    if (!store.equals("rocksdb") && !store.equals("memory")) {
      throw new IllegalArgumentException("--store must be rocksdb or memory");
    }
    if (retireSilentAfterSeconds <= 0) {
      throw new IllegalArgumentException(
          "--retire-silent-after must be a positive number of seconds");
    }
    if (trendWindowSeconds <= 0) {
      throw new IllegalArgumentException("--trend-window must be a positive number of seconds");
    }
    Path dir = (stateDir != null ? stateDir : defaultStateDir()).toAbsolutePath();
    if (Files.exists(dir) && !Files.isDirectory(dir)) {
      throw new IllegalArgumentException("--state-dir " + dir + " is not a directory");
    }
    StreamsAppConfig config =
        StreamsAppConfig.defaults(bootstrap, dir)
            .withHttpPort(httpPort)
            .withHttpBind(bind)
            .withStoreKind(
                store.equals("memory")
                    ? LeakTopology.StoreKind.IN_MEMORY
                    : LeakTopology.StoreKind.ROCKSDB)
            .withStaleAfterMs(retireSilentAfterSeconds * 1000)
            .withTrendWindowMs(trendWindowSeconds * 1000);
    if (commitMs != null)
      config = config.withKafka(Map.of("commit.interval.ms", Long.toString(commitMs)));
    if (kafkaConfig != null) config = config.withKafka(StreamsAppConfig.kafkaSettings(kafkaConfig));
    if (webConfig != null) {
      WebConfig.load(webConfig); // refused at start with the reason, not at the first request
      config = config.withWebConfig(webConfig.toAbsolutePath());
    }
    return config;
  }
}
