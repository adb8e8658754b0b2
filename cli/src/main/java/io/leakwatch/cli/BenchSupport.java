package io.leakwatch.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/** What the benchmarks share: their statistics, tool lookup, and a collector of their own. */
final class BenchSupport {
  private BenchSupport() {}

  static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }

  static double min(double[] v) {
    return Arrays.stream(v).min().orElse(0);
  }

  /**
   * Each round's ratio, {@code of[r] / against[r]}: runs of one round ran next to each other, so a
   * slow spell of the machine (this VM's wall times wander 10-25% between minutes) lands on both
   * sides of a ratio instead of on one mode's median.
   */
  static double[] roundRatios(double[] of, double[] against) {
    double[] r = new double[Math.min(of.length, against.length)];
    for (int i = 0; i < r.length; i++) r[i] = of[i] / against[i];
    return r;
  }

  /**
   * A 90% interval for the median of {@code v}: the 5th and 95th percentiles of the medians of
   * 4,000 resamples of {@code v} with replacement (the percentile bootstrap), from a fixed seed so
   * a run's numbers can be reproduced from its printed rounds. With few rounds it is wide, which is
   * the point: a target inside it is not shown met or missed.
   */
  static double[] medianInterval90(double[] v) {
    if (v.length == 0) return new double[] {Double.NaN, Double.NaN};
    SplittableRandom random = new SplittableRandom(0x1eadbeefL);
    int resamples = 4000;
    double[] medians = new double[resamples];
    double[] sample = new double[v.length];
    for (int b = 0; b < resamples; b++) {
      for (int i = 0; i < v.length; i++) sample[i] = v[random.nextInt(v.length)];
      medians[b] = median(sample);
    }
    Arrays.sort(medians);
    return new double[] {
      medians[(int) (0.05 * (resamples - 1))], medians[(int) (0.95 * (resamples - 1))]
    };
  }

  /**
   * A temporary directory for a benchmark's rings: under /dev/shm where rings live in production
   * (tmpfs, no writeback), elsewhere in the temporary directory.
   */
  static Path ringWorkDir(String prefix) throws IOException {
    Path shm = Path.of("/dev/shm");
    return Files.isDirectory(shm) && Files.isWritable(shm)
        ? Files.createTempDirectory(shm, prefix)
        : Files.createTempDirectory(prefix);
  }

  static boolean onPath(String tool) {
    for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
      if (Files.isExecutable(Path.of(dir, tool))) return true;
    }
    return false;
  }

  /**
   * The JVM options of a host's collector: the launcher's default for {@code leakwatch collector},
   * collector/Dockerfile and the systemd unit in docs/operations.md (HostCollectorJvmTest keeps
   * them equal). A benchmark of the collector beside a service measures it as a host runs it.
   */
  static final List<String> HOST_COLLECTOR_JVM =
      List.of("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1");

  /**
   * A collector in a JVM of its own, as on a host, publishing to {@code bootstrap}.
   *
   * @param extra more collector options (--config F, ...)
   * @param log where its output goes (null: discarded)
   */
  static Process startCollector(
      String bootstrap, Path runDir, int httpPort, Path log, String... extra) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> cmd = new ArrayList<>(List.of(java));
    cmd.addAll(HOST_COLLECTOR_JVM);
    cmd.addAll(
        List.of(
            "-cp",
            System.getProperty("java.class.path"),
            "io.leakwatch.collector.CollectorMain",
            "--bootstrap",
            bootstrap,
            "--http-port",
            Integer.toString(httpPort),
            "--run-dir",
            runDir.toString()));
    cmd.addAll(List.of(extra));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.redirectOutput(
        log == null ? ProcessBuilder.Redirect.DISCARD : ProcessBuilder.Redirect.to(log.toFile()));
    return pb.start();
  }
}
