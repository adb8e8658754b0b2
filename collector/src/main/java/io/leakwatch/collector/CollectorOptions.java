package io.leakwatch.collector;

import io.leakwatch.web.WebConfig;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * The collector daemon's command-line options, one class for both ways of starting it ({@code
 * ./leakwatch collector} and {@link CollectorMain} in its container or systemd unit), so their
 * options, defaults and help are the same. Options given beat the config file.
 */
public final class CollectorOptions {
  @Option(
      names = "--config",
      paramLabel = "FILE",
      description =
          "YAML config file (docs/collector.example.yml): Kafka settings incl. TLS/SASL, naming rules, limits")
  Path config;

  @Option(
      names = "--bootstrap",
      paramLabel = "H:P",
      description = "Kafka bootstrap servers (or kafka.bootstrap.servers in the config)")
  String bootstrap;

  @Option(
      names = "--http-port",
      paramLabel = "P",
      description = "own /metrics, /healthz and /readyz port (default 9400; 0 = none)")
  Integer httpPort;

  @Option(
      names = "--run-dir",
      paramLabel = "DIR",
      description =
          "where the shims write rings (default /dev/shm/leakwatch, or LEAKWATCH_RUN_DIR)")
  Path runDir;

  @Option(
      names = "--web-config",
      paramLabel = "FILE",
      description =
          "TLS, basic auth (bcrypt) and read-only roles for /metrics, in the exporter web configuration format"
              + " (as Prometheus's --web.config.file); reloaded when it changes")
  Path webConfig;

  @Option(
      names = "--bind",
      paramLabel = "ADDR",
      description = "HTTP address (default 127.0.0.1; 0.0.0.0 in a container)")
  String bind;

  /**
   * The configuration these options describe (defaults, then the file, then the flags).
   *
   * @throws IllegalArgumentException with the reason, for a usage error
   */
  public CollectorConfig toConfig() {
    CollectorConfig c = CollectorMain.configure(config, bootstrap, httpPort, bind, runDir);
    if (webConfig != null) {
      WebConfig.load(webConfig); // refused at start with the reason, not at the first scrape
      c = c.withWebConfig(webConfig.toAbsolutePath());
    }
    return c;
  }
}
