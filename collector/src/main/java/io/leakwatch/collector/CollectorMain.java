package io.leakwatch.collector;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Entry point of the collector on its own (its container, its systemd unit): {@code [--config FILE]
 * [--bootstrap H:P] [--http-port P] [--bind ADDR] [--run-dir D]}.
 */
public final class CollectorMain {
  private CollectorMain() {}

  public static void main(String[] args) throws InterruptedException {
    String bootstrap = null;
    Integer port = null;
    Path runDir = null;
    Path configFile = null;
    String bind = null;
    try {
      for (int i = 0; i < args.length; i++) {
        switch (args[i]) {
          case "--bootstrap" -> bootstrap = args[++i];
          case "--http-port" -> port = Integer.parseInt(args[++i]);
          case "--run-dir" -> runDir = Path.of(args[++i]);
          case "--bind" -> bind = args[++i];
          case "--config" -> configFile = Path.of(args[++i]);
          default -> throw new IllegalArgumentException("unknown option " + args[i]);
        }
      }
      run(configure(configFile, bootstrap, port, bind, runDir));
    } catch (IllegalArgumentException | ArrayIndexOutOfBoundsException e) {
      System.err.println("collector: " + e.getMessage());
      System.err.println(
          "usage: collector [--config FILE] [--bootstrap H:P] [--http-port P] [--bind ADDR] [--run-dir D]");
      System.exit(2);
    }
  }

  /**
   * The configuration from the defaults, then the file (when given), then the command-line options
   * that were given (null = not given): a flag always beats the file.
   */
  public static CollectorConfig configure(
      Path configFile, String bootstrap, Integer httpPort, String bind, Path runDir) {
    CollectorConfig c =
        CollectorConfig.defaults("").withRunDir(CollectorConfig.runDirFromEnvironment());
    if (configFile != null) c = CollectorConfigFile.load(configFile, c);
    if (bootstrap != null) {
      Map<String, Object> kafka = new LinkedHashMap<>(c.kafka());
      kafka.put("bootstrap.servers", bootstrap);
      c = c.withKafka(kafka);
    }
    Object servers = c.kafka().get("bootstrap.servers");
    if (servers == null || servers.toString().isBlank()) {
      throw new IllegalArgumentException(
          "no Kafka: give --bootstrap H:P or kafka.bootstrap.servers in the config file");
    }
    if (httpPort != null) c = c.withHttpPort(httpPort);
    if (bind != null) c = c.withHttpBind(bind);
    if (runDir != null) c = c.withRunDir(runDir);
    return c;
  }

  /** Runs until the JVM is asked to stop. */
  public static void run(CollectorConfig config) throws InterruptedException {
    Collector c = new Collector(config).start();
    Runtime.getRuntime().addShutdownHook(new Thread(c::close, "collector-shutdown"));
    System.out.println(
        "leakwatch collector: host "
            + config.host()
            + ", rings in "
            + config.runDir()
            + ", "
            + config.names().rules().size()
            + " naming rule(s)"
            + (config.httpPort() > 0
                ? ", metrics on http://" + config.httpBind() + ":" + config.httpPort() + "/metrics"
                : ""));
    Thread.currentThread().join();
  }
}
