package io.leakwatch.cli;

import io.leakwatch.collector.CollectorMain;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
    name = "collector",
    description = "Runs the per-host collector daemon. Options given here beat the config file.")
final class CollectorCommand implements Callable<Integer> {
  @Option(
      names = "--config",
      description =
          "YAML config file (docs/collector.example.yml): Kafka settings incl. TLS/SASL, naming rules, limits")
  Path config;

  @Option(
      names = "--bootstrap",
      description = "Kafka bootstrap servers, H:P (or kafka.bootstrap.servers in the config)")
  String bootstrap;

  @Option(names = "--http-port", description = "own /metrics port (default 9400; 0 = none)")
  Integer httpPort;

  @Option(
      names = "--run-dir",
      description =
          "where the shims write rings (default /dev/shm/leakwatch, or LEAKWATCH_RUN_DIR)")
  Path runDir;

  @Option(
      names = "--bind",
      description = "HTTP address (default 127.0.0.1; 0.0.0.0 in a container)")
  String bind;

  @Override
  public Integer call() throws Exception {
    DaemonLogging.asDaemon();
    try {
      CollectorMain.run(CollectorMain.configure(config, bootstrap, httpPort, bind, runDir));
    } catch (IllegalArgumentException e) {
      System.err.println("collector: " + e.getMessage());
      return 2;
    }
    return 0;
  }
}
