package io.leakwatch.cli;

import io.leakwatch.kafka.EmbeddedKafka;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
    name = "broker",
    footer = {
      "",
      "Examples:",
      "  ./leakwatch broker --port 9092 --data-dir /var/lib/leakwatch/kafka"
    },
    description = "Runs a standalone single-node KRaft broker on 127.0.0.1.")
final class BrokerCommand implements Callable<Integer> {
  @Option(
      names = "--port",
      defaultValue = "9092",
      description = "client port (default ${DEFAULT-VALUE})")
  int port;

  @Option(
      names = "--data-dir",
      defaultValue = "leakwatch-broker-data",
      description = "log directory (default ${DEFAULT-VALUE})")
  Path dataDir;

  @Override
  public Integer call() throws Exception {
    EmbeddedKafka kafka = EmbeddedKafka.start(dataDir.toAbsolutePath(), port, false, Map.of());
    Runtime.getRuntime().addShutdownHook(new Thread(kafka::close, "broker-shutdown"));
    System.out.println(
        "leakwatch broker: "
            + kafka.bootstrapServers()
            + " (data in "
            + dataDir.toAbsolutePath()
            + ")");
    Thread.currentThread().join();
    return 0;
  }
}
