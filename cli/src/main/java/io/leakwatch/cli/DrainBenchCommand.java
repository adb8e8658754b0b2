package io.leakwatch.cli;

import io.leakwatch.collector.DrainBench;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The collector's drain on an exact-mode flood, in nanoseconds a record (see {@link DrainBench}):
 * churn's ring recorded once, then read pass after pass, the ring reader alone beside each pass as
 * the baseline. The first pass is what a cold collector (a fresh {@code run --exact}) reads at.
 */
@Command(
    name = "drain",
    footer = {"", "Example:", "  ./leakwatch bench drain --pairs 1500000 --passes 10"},
    description =
        "The collector's drain on an exact-mode flood (ns a record, no Kafka), against the ring"
            + " reader alone.")
final class DrainBenchCommand implements Callable<Integer> {
  @Option(
      names = "--pairs",
      defaultValue = "1500000",
      description = "churn's malloc/free pairs, one thread (default ${DEFAULT-VALUE})")
  long pairs;

  @Option(
      names = "--passes",
      defaultValue = "10",
      description = "passes over the ring (default ${DEFAULT-VALUE}; the first is cold)")
  int passes;

  @Override
  public Integer call() throws Exception {
    if (pairs < 1 || passes < 1) {
      System.err.println("leakwatch bench drain: --pairs and --passes must be at least 1");
      return 2;
    }
    Path work = BenchSupport.ringWorkDir("leakwatch-bench-drain-");
    try {
      // Each pair is about 112 ring bytes (an allocation with churn's stack, its free): the ring
      // holds the whole run, so nothing is dropped and every pass reads the same records.
      long ringBytes = Long.highestOneBit(Math.max(1L << 20, pairs * 160)) << 1;
      Path ring =
          DrainBench.record(
              Home.agent(),
              work.resolve("run"),
              Math.min(ringBytes, 1L << 30),
              List.of(
                  Home.nativeDir().resolve("churn").toString(),
                  "-t",
                  "1",
                  "-p",
                  Long.toString(pairs),
                  "-n",
                  "10",
                  "-s",
                  "100"));
      System.out.printf(Locale.ROOT, "drain: churn 1 thread x %,d pairs in exact mode%n", pairs);
      System.out.printf(
          Locale.ROOT,
          "%4s %10s %14s %14s %8s%n",
          "pass",
          "records",
          "drain ns/rec",
          "read ns/rec",
          "ratio");
      double[] drain = new double[passes], read = new double[passes];
      long survivors = 0, lost = 0;
      for (int i = 0; i < passes; i++) {
        DrainBench.Pass r = DrainBench.read(ring);
        DrainBench.Pass d = DrainBench.drain(ring);
        drain[i] = d.nsPerRecord();
        read[i] = r.nsPerRecord();
        survivors = d.survivors();
        lost = d.lost();
        System.out.printf(
            Locale.ROOT,
            "%4d %,10d %14.1f %14.1f %7.2fx%n",
            i + 1,
            d.records(),
            drain[i],
            read[i],
            drain[i] / read[i]);
      }
      int from = Math.min(3, passes - 1); // the first three compile the code
      double[] warmDrain = Arrays.copyOfRange(drain, from, passes);
      double[] warmRead = Arrays.copyOfRange(read, from, passes);
      double[] ratios = BenchSupport.roundRatios(warmDrain, warmRead);
      double[] interval = BenchSupport.medianInterval90(ratios);
      System.out.printf(
          Locale.ROOT,
          "drain: cold %.1f ns a record (pass 1); warm %.1f (median of passes %d-%d), reader alone"
              + " %.1f: %.2fx [%.2f-%.2f]; %,d events outlived the pairing, %,d lost (must be"
              + " 0)%n",
          drain[0],
          BenchSupport.median(warmDrain),
          from + 1,
          passes,
          BenchSupport.median(warmRead),
          BenchSupport.median(ratios),
          interval[0],
          interval[1],
          survivors,
          lost);
    } finally {
      LocalStack.delete(work);
    }
    return 0;
  }
}
