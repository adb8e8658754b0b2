package io.leakwatch.collector.symbols;

import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Debian's debuginfod (elfutils), started on a loopback port over a directory of debug files, as a
 * company runs one for its builds. Close to stop it.
 */
public final class DebuginfodServer implements AutoCloseable {
  private final Process process;
  private final URI url;

  private DebuginfodServer(Process process, URI url) {
    this.process = process;
    this.url = url;
  }

  /**
   * Serves the ELF files in {@code dir}; returns once {@code buildId}'s debug info is served (the
   * server indexes the directory in the background after it starts).
   */
  public static DebuginfodServer serving(Path dir, Path work, String buildId) throws Exception {
    return serving(dir, work, buildId, freePort());
  }

  public static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  /** The same on a given port (a server that comes up where clients already look). */
  public static DebuginfodServer serving(Path dir, Path work, String buildId, int port)
      throws Exception {
    Files.createDirectories(work);
    Process p =
        new ProcessBuilder(
                "debuginfod",
                "-F",
                dir.toString(),
                "-p",
                Integer.toString(port),
                "-d",
                work.resolve("debuginfod.sqlite").toString(),
                "-t",
                "1")
            .redirectErrorStream(true)
            .redirectOutput(work.resolve("debuginfod.log").toFile())
            .start();
    URI url = URI.create("http://127.0.0.1:" + port);
    DebuginfodServer server = new DebuginfodServer(p, url);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      if (!p.isAlive())
        throw new IllegalStateException(
            "debuginfod exited: " + Files.readString(work.resolve("debuginfod.log")));
      if (status(URI.create(url + "/buildid/" + buildId + "/debuginfo")) == 200) return server;
      Thread.sleep(100);
    }
    server.close();
    throw new IllegalStateException("debuginfod did not index " + dir + " within 60 s");
  }

  private static int status(URI uri) {
    try {
      HttpURLConnection c = (HttpURLConnection) uri.toURL().openConnection();
      c.setConnectTimeout(1000);
      c.setReadTimeout(5000);
      int code = c.getResponseCode();
      c.disconnect();
      return code;
    } catch (IOException e) {
      return -1;
    }
  }

  public URI url() {
    return url;
  }

  @Override
  public void close() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly();
  }
}
