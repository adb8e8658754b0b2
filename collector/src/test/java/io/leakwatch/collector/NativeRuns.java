package io.leakwatch.collector;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs the test programs under the real shim, with rings in a directory of the test's own. */
public final class NativeRuns {
  public static final Path NATIVE = Path.of("target/native").toAbsolutePath();

  private NativeRuns() {}

  public static Path churn() {
    return NATIVE.resolve("churn");
  }

  /**
   * Holds the run directory's collector.lock as a collector does (RingLayout.COLLECTOR_LOCK), so
   * the shims keep their rings at exit for the test to read. Close to let go.
   */
  public static AutoCloseable actAsCollector(Path runDir) throws IOException {
    Files.createDirectories(runDir);
    java.nio.channels.FileChannel ch =
        java.nio.channels.FileChannel.open(
            runDir.resolve(io.leakwatch.collector.ring.RingLayout.COLLECTOR_LOCK),
            java.nio.file.StandardOpenOption.CREATE,
            java.nio.file.StandardOpenOption.WRITE);
    try {
      ch.tryLock();
    } catch (java.nio.channels.OverlappingFileLockException e) {
      // held by this JVM already
    }
    return ch::close;
  }

  /** Runs the command with the shim preloaded; returns the rings it left behind. */
  public static List<Path> run(Path runDir, long sampleBytes, long ringBytes, String... command)
      throws IOException, InterruptedException {
    java.util.Map<String, String> env = new java.util.HashMap<>();
    env.put("LEAKWATCH_SAMPLE_BYTES", Long.toString(sampleBytes));
    if (ringBytes > 0) env.put("LEAKWATCH_RING_BYTES", Long.toString(ringBytes));
    return runWithEnv(runDir, env, command);
  }

  /** Runs the command with the shim preloaded and these LEAKWATCH_* settings; returns its rings. */
  public static List<Path> runWithEnv(
      Path runDir, java.util.Map<String, String> env, String... command)
      throws IOException, InterruptedException {
    ProcessBuilder pb =
        new ProcessBuilder(command)
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.DISCARD);
    pb.environment().put("LD_PRELOAD", NATIVE.resolve("libleakwatch.so").toString());
    pb.environment().put("LEAKWATCH_RUN_DIR", runDir.toString());
    pb.environment().putAll(env);
    try (AutoCloseable collector = actAsCollector(runDir)) {
      Process p = pb.start();
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IllegalStateException("timed out: " + String.join(" ", command));
      }
      if (p.exitValue() != 0)
        throw new IllegalStateException("exit " + p.exitValue() + ": " + String.join(" ", command));
    } catch (IOException | InterruptedException | RuntimeException e) {
      throw e;
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
    List<Path> rings = new ArrayList<>();
    try (DirectoryStream<Path> d = Files.newDirectoryStream(runDir, "*.ring")) {
      d.forEach(rings::add);
    }
    return rings;
  }
}
