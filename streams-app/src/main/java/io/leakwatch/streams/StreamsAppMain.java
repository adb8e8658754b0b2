package io.leakwatch.streams;

import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/**
 * Entry point of the streams-app on its own (its container, its systemd unit), with the same
 * options as {@code ./leakwatch streams} ({@link StreamsOptions}).
 */
@Command(
    name = "leakwatch-streams",
    footer = {
      "",
      "Examples:",
      "  java -cp 'lib/*' io.leakwatch.streams.StreamsAppMain --bootstrap kafka:9092 --bind 0.0.0.0"
    },
    mixinStandardHelpOptions = true,
    versionProvider = StreamsAppMain.Version.class,
    description = "Runs the streams-app: /metrics, report page and API.")
public final class StreamsAppMain implements Callable<Integer> {
  @Mixin StreamsOptions options = new StreamsOptions();

  /** The version of the build (the jar's manifest), as {@code ./leakwatch --version} says it. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = StreamsAppMain.class.getPackage().getImplementationVersion();
      return new String[] {"leakwatch " + (v != null ? v : "(classes, not a packaged build)")};
    }
  }

  public static void main(String[] args) {
    System.exit(new CommandLine(new StreamsAppMain()).execute(args));
  }

  @Override
  public Integer call() throws InterruptedException {
    StreamsAppConfig config;
    try {
      config = options.toConfig();
    } catch (IllegalArgumentException e) {
      System.err.println("leakwatch-streams: " + e.getMessage() + " (see --help)");
      return 2;
    }
    run(config);
    return 0;
  }

  public static void run(StreamsAppConfig config) throws InterruptedException {
    StreamsApp app = new StreamsApp(config).start(Duration.ofMinutes(5));
    Runtime.getRuntime().addShutdownHook(new Thread(app::close, "streams-shutdown"));
    System.out.println(
        "leakwatch streams-app: report and /metrics on http://"
            + config.httpBind()
            + ":"
            + app.httpPort()
            + "; state in "
            + config.stateDir());
    Thread.currentThread().join();
  }
}
