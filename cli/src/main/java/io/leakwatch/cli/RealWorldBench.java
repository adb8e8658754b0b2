package io.leakwatch.cli;

import io.leakwatch.kafka.EmbeddedKafka;
import io.leakwatch.schemas.TopicSetup;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Real servers' throughput and real programs' wall time, bare and tracked, from the real-software
 * scripts (collector/src/test/realworld): pgbench's transactions/s against PostgreSQL and wrk's
 * requests/s against nginx with the shim preloaded into every server process and one real,
 * long-running collector draining their rings into Kafka (as on a fleet's host; the broker runs in
 * this JVM, on the same cores, which a fleet's host does not pay); perl, gcc, a JVM, CPython and a
 * shell pipeline through {@code leakwatch run}; heaptrack beside them where it records the work (it
 * follows neither fork nor exec: the JVM, and CPython's tests run in one process). Runs are
 * interleaved (every mode once per round, each round starting one mode later), medians reported.
 */
@Command(
    name = "realworld",
    footer = {
      "",
      "Examples:",
      "  ./leakwatch bench realworld --repeat 3 --programs postgres,nginx",
      "  ./leakwatch bench realworld --programs perl,gcc,jvm --modes default"
    },
    description =
        "Real servers and programs (PostgreSQL, nginx, perl, gcc, a JVM, CPython), bare vs tracked.")
final class RealWorldBench implements Callable<Integer> {
  @Option(
      names = "--repeat",
      defaultValue = "3",
      description = "rounds, each program in every mode (default ${DEFAULT-VALUE})")
  int repeat;

  @Option(
      names = "--programs",
      defaultValue = "postgres,nginx,perl,gcc,jvm,cpython",
      split = ",",
      description = "of the real-software scripts (default ${DEFAULT-VALUE})")
  List<String> programs;

  @Option(
      names = "--modes",
      defaultValue = "default,exact,heaptrack",
      split = ",",
      description =
          "default (sampling), sample4k, exact, heaptrack (where it records the work; default"
              + " ${DEFAULT-VALUE})")
  List<String> modes;

  /**
   * One outcome line of a script: wall seconds and, for servers, their throughput; and the CPU
   * seconds our own processes took meanwhile: the host's collector, and this JVM (the broker, which
   * a fleet's host does not run).
   */
  record Result(
      double seconds, double throughput, String outcome, double collectorCpu, double brokerCpu) {
    Result withCpu(double collector, double broker) {
      return new Result(seconds, throughput, outcome, collector, broker);
    }
  }

  /** CPU seconds (user and system) a process has used so far; 0 where the kernel does not say. */
  static double cpuSeconds(ProcessHandle p) {
    return p.info().totalCpuDuration().map(d -> d.toNanos() / 1e9).orElse(0.0);
  }

  @Override
  public Integer call() throws Exception {
    Path scripts = Home.root().resolve("collector/src/test/realworld");
    modes = new ArrayList<>(modes);
    if (modes.contains("heaptrack") && !BenchSupport.onPath("heaptrack")) {
      modes.remove("heaptrack");
      System.out.println("(heaptrack not installed: apt-get install heaptrack for its column)");
    }
    List<String> all = new ArrayList<>(List.of("bare"));
    all.addAll(modes);
    // program -> why heaptrack cannot measure it (the script says so at its first run)
    Map<String, String> unsupported = new LinkedHashMap<>();
    Map<String, Map<String, List<Result>>> results = new LinkedHashMap<>();
    Path work = Files.createTempDirectory("leakwatch-bench-realworld-");
    // Servers drop root (postgres runs as nobody): they must reach their directories below this.
    Files.setPosixFilePermissions(work, PosixFilePermissions.fromString("rwxr-xr-x"));
    Path runDir = Files.createTempDirectory(Path.of("/dev/shm"), "leakwatch-bench-rings-");
    Files.setPosixFilePermissions(runDir, PosixFilePermissions.fromString("rwxrwxrwx"));
    System.out.printf(
        Locale.ROOT,
        "realworld: %s in modes %s, %d round(s), interleaved; servers with a real collector draining%n",
        programs,
        all,
        repeat);
    Process collector = null;
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      TopicSetup.ensureTopics(Map.of("bootstrap.servers", kafka.bootstrapServers()), 4, (short) 1);
      collector = startCollector(kafka.bootstrapServers(), runDir, work);
      // A host's collector has run for days: the code paths a tracked server drives are compiled.
      // Idle, they are not (the first tracked PostgreSQL round cost the collector 4.8 s of CPU,
      // 2.9 s of it in the JIT compilers, against 2.0 s in the next): one unmeasured round in
      // the first tracked mode compiles them.
      String warmMode = modes.stream().filter(m -> !m.equals("heaptrack")).findFirst().orElse(null);
      if (warmMode != null) {
        for (String program : programs) {
          Result warm =
              runCounted(
                  scripts, program, warmMode, work.resolve(program + "-warmup"), runDir, collector);
          System.out.printf(
              Locale.ROOT,
              "  warm-up %-9s %-8s %7.1f s  cpu: collector %.1f s (not counted)%n",
              program,
              warmMode,
              warm.seconds(),
              warm.collectorCpu());
        }
      }
      for (int r = 0; r < repeat; r++) {
        for (String program : programs) {
          // Each round starts one mode later (bare first, then second, ...): whatever a run leaves
          // behind for the next one (page cache, a warmer collector) is not always on one side.
          for (int i = 0; i < all.size(); i++) {
            String mode = all.get((i + r) % all.size());
            if (mode.equals("heaptrack") && unsupported.containsKey(program)) continue;
            Result res =
                runCounted(
                    scripts,
                    program,
                    mode,
                    work.resolve(program + "-" + mode + "-" + r),
                    runDir,
                    collector);
            if (res.outcome().startsWith("unsupported:")) {
              unsupported.put(program, res.outcome().substring("unsupported:".length()));
              System.out.printf(
                  Locale.ROOT,
                  "  %-9s %-8s not measured: %s%n",
                  program,
                  mode,
                  unsupported.get(program));
              continue;
            }
            results
                .computeIfAbsent(program, k -> new LinkedHashMap<>())
                .computeIfAbsent(mode, k -> new ArrayList<>())
                .add(res);
            System.out.printf(
                Locale.ROOT,
                "  round %d %-9s %-8s %7.1f s%s  cpu: collector %.1f s, broker %.1f s  %s%n",
                r + 1,
                program,
                mode,
                res.seconds(),
                res.throughput() > 0
                    ? String.format(Locale.ROOT, " %,.0f/s", res.throughput())
                    : "",
                res.collectorCpu(),
                res.brokerCpu(),
                res.outcome());
          }
        }
      }
    } finally {
      if (collector != null) {
        collector.destroy();
        collector.waitFor(10, TimeUnit.SECONDS);
      }
      LocalStack.delete(work);
      LocalStack.delete(runDir);
    }
    System.out.printf(
        Locale.ROOT,
        "%nservers: throughput, tracked / bare (1.00x = no cost); programs: wall time, tracked / bare;"
            + " rounds: the median of each round's ratio (a round's runs are adjacent) with a 90%%"
            + " bootstrap interval%n");
    for (var byProgram : results.entrySet()) {
      Map<String, List<Result>> byMode = byProgram.getValue();
      boolean server = median(byMode.get("bare"), true) > 0;
      double bare = median(byMode.get("bare"), server);
      StringBuilder line =
          new StringBuilder(
              String.format(
                  Locale.ROOT,
                  "%-9s bare %s",
                  byProgram.getKey(),
                  server
                      ? String.format(Locale.ROOT, "%,10.0f/s", bare)
                      : String.format(Locale.ROOT, "%9.1f s", bare)));
      for (String mode : modes) {
        if (byMode.get(mode) == null) {
          line.append(String.format(Locale.ROOT, "   %s -", mode));
          continue;
        }
        double m = median(byMode.get(mode), server);
        double[] rounds =
            BenchSupport.roundRatios(
                values(byMode.get(mode), server), values(byMode.get("bare"), server));
        double[] interval = BenchSupport.medianInterval90(rounds);
        line.append(
            String.format(
                Locale.ROOT,
                "   %s %s (%.2fx %s; rounds %.2fx [%.2f-%.2f])",
                mode,
                server
                    ? String.format(Locale.ROOT, "%,.0f/s", m)
                    : String.format(Locale.ROOT, "%.1f s", m),
                m / bare,
                server ? "throughput" : "time",
                BenchSupport.median(rounds),
                interval[0],
                interval[1]));
      }
      System.out.println(line);
    }
    System.out.printf(
        Locale.ROOT,
        "%nour own processes' CPU while each ran (median, %% of one core over its wall time):"
            + " the host's collector, and the broker (in this JVM; not on a fleet's host)%n");
    for (var byProgram : results.entrySet()) {
      StringBuilder line =
          new StringBuilder(String.format(Locale.ROOT, "%-9s", byProgram.getKey()));
      for (String mode : all) {
        List<Result> rs = byProgram.getValue().get(mode);
        if (rs == null) continue;
        line.append(
            String.format(
                Locale.ROOT,
                "   %s collector %.1f%% broker %.1f%%",
                mode,
                medianOf(rs, r -> r.seconds() > 0 ? 100 * r.collectorCpu() / r.seconds() : 0),
                medianOf(rs, r -> r.seconds() > 0 ? 100 * r.brokerCpu() / r.seconds() : 0)));
      }
      System.out.println(line);
    }
    for (var u : unsupported.entrySet())
      System.out.printf(
          Locale.ROOT,
          "heaptrack not measured for %s: %s (heaptrack follows neither fork nor exec)%n",
          u.getKey(),
          u.getValue());
    System.out.println(
        "target (issue 18): default sampling costs servers at most 2% of their throughput (>= 0.98x)");
    return 0;
  }

  /**
   * The host's collector, started once and left running as on a fleet's host (its JVM warmed up
   * before the first measured run), serving the run directory every tracked server uses.
   */
  private static Process startCollector(String bootstrap, Path runDir, Path work) throws Exception {
    Process p = BenchSupport.startCollector(bootstrap, runDir, 0, work.resolve("collector.log"));
    Path lock = runDir.resolve("collector.lock");
    for (int i = 0; i < 300 && !Files.exists(lock); i++) Thread.sleep(100);
    if (!Files.exists(lock)) throw new IllegalStateException("the collector did not start");
    // Servers that dropped root test the lock read-only.
    Files.setPosixFilePermissions(lock, PosixFilePermissions.fromString("rw-r--r--"));
    Thread.sleep(15_000); // start-up and JIT: a host's collector has been running for days
    return p;
  }

  /** One run in its own directory (removed after it), with our processes' CPU meanwhile. */
  private static Result runCounted(
      Path scripts, String program, String mode, Path dir, Path runDir, Process collector)
      throws Exception {
    Files.createDirectories(dir);
    double collectorBefore = cpuSeconds(collector.toHandle());
    double brokerBefore = cpuSeconds(ProcessHandle.current());
    try {
      return runOnce(scripts, program, mode, dir, runDir)
          .withCpu(
              cpuSeconds(collector.toHandle()) - collectorBefore,
              cpuSeconds(ProcessHandle.current()) - brokerBefore);
    } finally {
      LocalStack.delete(dir);
    }
  }

  private static Result runOnce(Path scripts, String program, String mode, Path dir, Path runDir)
      throws Exception {
    ProcessBuilder pb =
        new ProcessBuilder("bash", scripts.resolve(program + ".sh").toString(), mode)
            .redirectErrorStream(true);
    pb.environment().put("RW_WORK", dir.toString());
    pb.environment().put("RW_RUN_DIR", runDir.toString());
    pb.environment().put("LEAKWATCH_HOME", Home.root().toString());
    // A quick, CPU-bound slice of CPython's tests: a workload, not the safety suite.
    pb.environment().putIfAbsent("RW_CPYTHON_TESTS", "test_json test_re test_dict test_set");
    // In one process, in every mode: the only process heaptrack records is the one it starts.
    pb.environment().putIfAbsent("RW_CPYTHON_INPROCESS", "1");
    Process p = pb.start();
    String rw = null;
    try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream()))) {
      for (String line; (line = out.readLine()) != null; ) if (line.startsWith("RW\t")) rw = line;
    }
    if (!p.waitFor(60, TimeUnit.MINUTES) || rw == null)
      throw new IllegalStateException(program + " " + mode + ": no outcome line");
    Map<String, String> f = new LinkedHashMap<>();
    for (String part : rw.split("\t")) {
      int eq = part.indexOf('=');
      if (eq > 0) f.put(part.substring(0, eq), part.substring(eq + 1));
    }
    double seconds = parse(f.get("seconds"));
    String metric = f.getOrDefault("metric", "-");
    double throughput = metric.contains(":") ? parse(metric.substring(metric.indexOf(':') + 1)) : 0;
    String outcome = f.getOrDefault("outcome", "?");
    return new Result(
        seconds,
        throughput,
        outcome.length() > 60 ? outcome.substring(0, 60) + "..." : outcome,
        0,
        0);
  }

  private static double parse(String s) {
    try {
      return s == null ? 0 : Double.parseDouble(s);
    } catch (NumberFormatException e) {
      return 0;
    }
  }

  /** Each round's throughput (servers) or wall time (programs), in round order. */
  private static double[] values(List<Result> rs, boolean throughput) {
    return rs.stream().mapToDouble(r -> throughput ? r.throughput() : r.seconds()).toArray();
  }

  private static double median(List<Result> rs, boolean throughput) {
    return medianOf(rs, r -> throughput ? r.throughput() : r.seconds());
  }

  private static double medianOf(List<Result> rs, ToDoubleFunction<Result> f) {
    if (rs == null || rs.isEmpty()) return 0;
    double[] v = rs.stream().mapToDouble(f).toArray();
    Arrays.sort(v);
    return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  }
}
