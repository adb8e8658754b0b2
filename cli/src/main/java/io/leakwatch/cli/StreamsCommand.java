package io.leakwatch.cli;

import io.leakwatch.streams.StreamsAppConfig;
import io.leakwatch.streams.StreamsAppMain;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "streams", description = "Runs the streams-app: /metrics, report page and API.")
final class StreamsCommand implements Callable<Integer> {
  @Option(names = "--bootstrap", required = true, description = "Kafka bootstrap servers, H:P")
  String bootstrap;

  @Option(names = "--http-port", defaultValue = "8080", description = "port on 127.0.0.1 (default ${DEFAULT-VALUE})")
  int httpPort;

  @Option(names = "--state-dir", defaultValue = "leakwatch-streams-state", description = "state stores (default ${DEFAULT-VALUE})")
  Path stateDir;

  @Option(names = "--bind", defaultValue = "127.0.0.1", description = "HTTP address (default ${DEFAULT-VALUE}; 0.0.0.0 in a container)")
  String bind;

  @Option(names = "--kafka-config", description = "Kafka client settings (Java properties: security.protocol, sasl.*, ssl.*, tuning)")
  Path kafkaConfig;

  @Override
  public Integer call() throws Exception {
    StreamsAppConfig config = StreamsAppConfig.defaults(bootstrap, stateDir.toAbsolutePath()).withHttpPort(httpPort).withHttpBind(bind);
    if (kafkaConfig != null) config = config.withKafka(StreamsAppConfig.kafkaSettings(kafkaConfig));
    StreamsAppMain.run(config);
    return 0;
  }
}
