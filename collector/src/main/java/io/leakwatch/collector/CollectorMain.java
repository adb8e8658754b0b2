package io.leakwatch.collector;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/**
 * Entry point of the collector on its own (its container, its systemd unit), with the same options
 * as {@code ./leakwatch collector} ({@link CollectorOptions}).
 */
@Command(
    name = "leakwatch-collector",
    footer = {
      "",
      "Examples:",
      "  java -cp 'lib/*' io.leakwatch.collector.CollectorMain --config /etc/leakwatch/collector.yml"
    },
    mixinStandardHelpOptions = true,
    versionProvider = CollectorMain.Version.class,
    description = "Runs the per-host collector daemon. Options given here beat the config file.")
public final class CollectorMain implements Callable<Integer> {
  @Mixin CollectorOptions options = new CollectorOptions();

  /** The version of the build (the jar's manifest), as {@code ./leakwatch --version} says it. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = CollectorMain.class.getPackage().getImplementationVersion();
      return new String[] {"leakwatch " + (v != null ? v : "(classes, not a packaged build)")};
    }
  }

  public static void main(String[] args) {
    System.exit(new CommandLine(new CollectorMain()).execute(args));
  }

  @Override
  public Integer call() throws InterruptedException {
    CollectorConfig config;
    try {
      config = options.toConfig();
    } catch (IllegalArgumentException e) {
      System.err.println("leakwatch-collector: " + e.getMessage() + " (see --help)");
      return 2;
    }
    run(config);
    return 0;
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
