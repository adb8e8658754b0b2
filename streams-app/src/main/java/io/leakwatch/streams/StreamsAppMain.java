package io.leakwatch.streams;

import java.nio.file.Path;
import java.time.Duration;

/**
 * Entry point of the streams-app on its own: {@code --bootstrap H:P [--kafka-config FILE]
 * [--http-port P] [--bind ADDR] [--state-dir D]}.
 */
public final class StreamsAppMain {
  private StreamsAppMain() {}

  public static void main(String[] args) throws InterruptedException {
    String bootstrap = null;
    int port = 8080;
    Path stateDir = Path.of(System.getProperty("java.io.tmpdir"), "leakwatch-streams");
    String bind = "127.0.0.1";
    Path kafkaConfig = null;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--bootstrap" -> bootstrap = args[++i];
        case "--http-port" -> port = Integer.parseInt(args[++i]);
        case "--state-dir" -> stateDir = Path.of(args[++i]);
        case "--bind" -> bind = args[++i];
        case "--kafka-config" -> kafkaConfig = Path.of(args[++i]);
        default -> {
          System.err.println(
              "usage: streams --bootstrap H:P [--kafka-config FILE] [--http-port P] [--bind ADDR] [--state-dir D]");
          System.exit(2);
        }
      }
    }
    if (bootstrap == null) {
      System.err.println("streams: --bootstrap is required");
      System.exit(2);
    }
    StreamsAppConfig config =
        StreamsAppConfig.defaults(bootstrap, stateDir).withHttpPort(port).withHttpBind(bind);
    if (kafkaConfig != null) config = config.withKafka(StreamsAppConfig.kafkaSettings(kafkaConfig));
    run(config);
  }

  public static void run(StreamsAppConfig config) throws InterruptedException {
    StreamsApp app = new StreamsApp(config).start(Duration.ofMinutes(5));
    Runtime.getRuntime().addShutdownHook(new Thread(app::close, "streams-shutdown"));
    System.out.println(
        "leakwatch streams-app: report and /metrics on http://"
            + config.httpBind()
            + ":"
            + app.httpPort());
    Thread.currentThread().join();
  }
}
