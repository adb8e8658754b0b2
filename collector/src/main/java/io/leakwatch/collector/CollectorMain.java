package io.leakwatch.collector;

import java.nio.file.Path;

/** Entry point of the collector on its own (its container, its systemd unit): {@code --bootstrap H:P}. */
public final class CollectorMain {
  private CollectorMain() {}

  public static void main(String[] args) throws InterruptedException {
    String bootstrap = null;
    int port = 9400;
    Path runDir = CollectorConfig.DEFAULT_RUN_DIR;
    String bind = "127.0.0.1";
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--bootstrap" -> bootstrap = args[++i];
        case "--http-port" -> port = Integer.parseInt(args[++i]);
        case "--run-dir" -> runDir = Path.of(args[++i]);
        case "--bind" -> bind = args[++i];
        default -> {
          System.err.println("usage: collector --bootstrap H:P [--http-port P] [--bind ADDR] [--run-dir D]");
          System.exit(2);
        }
      }
    }
    if (bootstrap == null) {
      System.err.println("collector: --bootstrap is required");
      System.exit(2);
    }
    run(CollectorConfig.defaults(bootstrap).withHttpPort(port).withHttpBind(bind).withRunDir(runDir));
  }

  /** Runs until the JVM is asked to stop. */
  public static void run(CollectorConfig config) throws InterruptedException {
    Collector c = new Collector(config).start();
    Runtime.getRuntime().addShutdownHook(new Thread(c::close, "collector-shutdown"));
    System.out.println("leakwatch collector: host " + config.host() + ", rings in " + config.runDir()
        + (config.httpPort() > 0 ? ", metrics on http://" + config.httpBind() + ":" + config.httpPort() + "/metrics" : ""));
    Thread.currentThread().join();
  }
}
