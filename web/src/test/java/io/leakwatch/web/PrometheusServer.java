package io.leakwatch.web;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real Prometheus (the Debian package's) for the tests of scrapes, rules and dashboard queries.
 * It listens on a port the kernel gives it ({@code 127.0.0.1:0}) and the test reads that port from
 * its log: a port picked by the test and handed over later can be taken in between (a broker, a
 * client's ephemeral port), which failed a suite run with "bind: address already in use".
 */
public final class PrometheusServer implements AutoCloseable {
  private static final Pattern LISTENING =
      Pattern.compile("msg=\"Listening on\" address=127\\.0\\.0\\.1:(\\d+)");

  private final Process process;
  private final Path log;
  private final int port;

  private PrometheusServer(Process process, Path log, int port) {
    this.process = process;
    this.log = log;
    this.port = port;
  }

  /** Starts Prometheus on {@code config}, its data and {@code prometheus.log} under {@code dir}. */
  public static PrometheusServer start(Path config, Path dir)
      throws IOException, InterruptedException {
    Path log = dir.resolve("prometheus.log");
    Process p =
        new ProcessBuilder(
                "prometheus",
                "--config.file=" + config,
                "--storage.tsdb.path=" + dir.resolve("tsdb"),
                "--web.listen-address=127.0.0.1:0")
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            .start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      Matcher m = LISTENING.matcher(Files.exists(log) ? Files.readString(log) : "");
      if (m.find()) return new PrometheusServer(p, log, Integer.parseInt(m.group(1)));
      if (!p.isAlive()) break;
      Thread.sleep(100);
    }
    p.destroyForcibly();
    p.waitFor(10, TimeUnit.SECONDS);
    throw new IllegalStateException(
        "Prometheus did not say where it listens; its log:\n"
            + (Files.exists(log) ? Files.readString(log) : "(none)"));
  }

  public int port() {
    return port;
  }

  public Process process() {
    return process;
  }

  /** What it has logged so far (for assertion messages). */
  public String log() throws IOException {
    return Files.readString(log);
  }

  @Override
  public void close() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(10, TimeUnit.SECONDS)) {
      process.destroyForcibly();
      process.waitFor(10, TimeUnit.SECONDS);
    }
  }
}
