package io.leakwatch.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The shim's cost as a user meets it: the churn program's own loop time bare, then under {@code
 * ./leakwatch run} (the launcher, its JVM with the broker, the Streams app and the collector
 * draining the ring as it fills, rings as they are: not pre-faulted, production sizes), in default
 * sampling and exact mode, and under heaptrack; interleaved run by run, medians and minimums.
 */
@Command(
    name = "run",
    footer = {"", "Examples:", "  ./leakwatch bench run --repeat 7 --threads 1 --pairs 20000000"},
    description =
        "Overhead through ./leakwatch run, as a user meets it (against the bare program).")
final class RunBench implements Callable<Integer> {
  @Option(
      names = "--pairs",
      defaultValue = "20000000",
      description = "malloc/free pairs per thread (default ${DEFAULT-VALUE})")
  long pairs;

  @Option(
      names = "--threads",
      defaultValue = "1",
      description = "threads of the churn (default ${DEFAULT-VALUE})")
  int threads;

  @Option(
      names = "--repeat",
      defaultValue = "7",
      description = "runs of each mode, interleaved (default ${DEFAULT-VALUE})")
  int repeat;

  @Option(
      names = "--modes",
      defaultValue = "default,exact,heaptrack",
      split = ",",
      description = "default (sampling), exact, heaptrack (default ${DEFAULT-VALUE})")
  List<String> modes;

  private static final Pattern SECONDS = Pattern.compile("churn: .* seconds=([0-9.]+)");

  /** The CPU time churn's threads got during the loop (older builds of churn do not print it). */
  private static final Pattern CPU = Pattern.compile("churn: .* cpu=([0-9.]+)");

  /** The report's tracking line: a run that lost events measured less work than it claims. */
  private static final Pattern LOST = Pattern.compile("tracking: .*, ([0-9,]+) events lost");

  /** Events lost by each mode's runs, from the reports (heaptrack and bare have none). */
  private final Map<String, Long> lost = new LinkedHashMap<>();

  @Override
  public Integer call() throws Exception {
    Path churn = Home.nativeDir().resolve("churn");
    Path launcher = Home.root().resolve("leakwatch");
    List<String> all = new ArrayList<>(List.of("bare"));
    for (String m : modes) {
      if (m.equals("heaptrack") && !BenchSupport.onPath("heaptrack")) {
        System.out.println("(heaptrack not installed: apt-get install heaptrack for its column)");
        continue;
      }
      all.add(m);
    }
    System.out.printf(
        Locale.ROOT,
        "run overhead: churn %d thread(s) x %,d pairs, loop time; through %s run (broker, Streams,"
            + " collector in its JVM), %d interleaved runs%n",
        threads,
        pairs,
        launcher,
        repeat);
    Map<String, double[]> loop = new LinkedHashMap<>();
    Map<String, double[]> wall = new LinkedHashMap<>();
    Map<String, double[]> offCore = new LinkedHashMap<>();
    for (String m : all) {
      loop.put(m, new double[repeat]);
      wall.put(m, new double[repeat]);
      offCore.put(m, new double[repeat]);
    }
    Path work = Files.createTempDirectory("leakwatch-bench-run-");
    try {
      for (int r = 0; r < repeat; r++) {
        for (String m : all) {
          List<String> cmd = new ArrayList<>();
          switch (m) {
            case "bare" -> {}
            case "default" -> cmd.addAll(List.of(launcher.toString(), "run", "--"));
            case "exact" -> cmd.addAll(List.of(launcher.toString(), "run", "--exact", "--"));
            case "heaptrack" ->
                cmd.addAll(List.of("heaptrack", "-o", work.resolve("heaptrack.%p").toString()));
            default -> throw new IllegalArgumentException("unknown mode " + m);
          }
          cmd.addAll(
              List.of(
                  churn.toString(),
                  "-t",
                  Integer.toString(threads),
                  "-p",
                  Long.toString(pairs),
                  "-n",
                  "10",
                  "-s",
                  "100"));
          long t0 = System.nanoTime();
          double[] loopAndCpu = loopSeconds(cmd, m, lost);
          loop.get(m)[r] = loopAndCpu[0];
          wall.get(m)[r] = (System.nanoTime() - t0) / 1e9;
          offCore.get(m)[r] = Math.max(0, threads * loopAndCpu[0] - loopAndCpu[1]) * 1000;
          System.out.printf(
              Locale.ROOT,
              "  run %d %-9s loop %.3f s, off core %.1f ms%n",
              r + 1,
              m,
              loop.get(m)[r],
              offCore.get(m)[r]);
        }
      }
    } finally {
      LocalStack.delete(work);
    }
    double bare = BenchSupport.median(loop.get("bare"));
    double bareMin = BenchSupport.min(loop.get("bare"));
    System.out.printf(
        Locale.ROOT,
        "%n%-10s %12s %16s %24s %12s %12s %14s%n",
        "mode",
        "loop median",
        "ratio (min/min)",
        "rounds' ratios [90%]",
        "wall median",
        "events lost",
        "off core (ms)");
    for (String m : all) {
      double[] rounds = BenchSupport.roundRatios(loop.get(m), loop.get("bare"));
      double[] interval = BenchSupport.medianInterval90(rounds);
      System.out.printf(
          Locale.ROOT,
          "%-10s %11.3fs %7.2fx (%5.2fx) %8.2fx [%5.2f-%5.2f] %11.1fs %12s %14.1f%n",
          m,
          BenchSupport.median(loop.get(m)),
          BenchSupport.median(loop.get(m)) / bare,
          BenchSupport.min(loop.get(m)) / bareMin,
          BenchSupport.median(rounds),
          interval[0],
          interval[1],
          BenchSupport.median(wall.get(m)),
          lost.containsKey(m) ? String.format(Locale.ROOT, "%,d", lost.get(m)) : "-",
          BenchSupport.median(offCore.get(m)));
    }
    System.out.println(
        "rounds' ratios: the median of each round's mode/bare (runs of a round are adjacent), with a"
            + " 90% bootstrap interval; a target inside the interval is neither shown met nor missed");
    System.out.println(
        "off core: the median of threads x loop time - the CPU time churn's threads got in it (time"
            + " preempted or waiting, which the VM's speed does not move)");
    System.out.println(
        "targets (issue 18): default sampling <= 1.05x, exact <= 6x, through ./leakwatch run");
    return 0;
  }

  /** Runs one round; returns churn's loop seconds and the CPU seconds its threads got in it. */
  private static double[] loopSeconds(List<String> cmd, String mode, Map<String, Long> lost)
      throws IOException, InterruptedException {
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    Process p = pb.start();
    double seconds = -1;
    double cpu = -1;
    StringBuilder tail = new StringBuilder();
    try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream()))) {
      for (String line; (line = out.readLine()) != null; ) {
        Matcher mm = SECONDS.matcher(line);
        if (mm.find()) seconds = Double.parseDouble(mm.group(1));
        Matcher mc = CPU.matcher(line);
        if (mc.find()) cpu = Double.parseDouble(mc.group(1));
        Matcher ml = LOST.matcher(line);
        if (ml.find()) lost.merge(mode, Long.parseLong(ml.group(1).replace(",", "")), Long::sum);
        tail.append(line).append('\n');
        if (tail.length() > 4000) tail.delete(0, tail.length() - 4000);
      }
    }
    if (!p.waitFor(10, TimeUnit.MINUTES) || p.exitValue() != 0 || seconds < 0)
      throw new IllegalStateException(mode + " run failed: " + String.join(" ", cmd) + "\n" + tail);
    return new double[] {seconds, cpu < 0 ? Double.NaN : cpu};
  }
}
