package io.leakwatch.cli;

import io.leakwatch.streams.render.TextReport;
import io.leakwatch.streams.report.Units;
import io.leakwatch.streams.report.model.AllocatorRow;
import io.leakwatch.streams.report.model.ProcessReport;
import io.leakwatch.streams.report.model.StackRow;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
    name = "demo",
    footer = {
      "",
      "Examples:",
      "  ./leakwatch demo",
      "  ./leakwatch demo --duration 60 --http-port 9090"
    },
    description = {
      "The main job on one box: a real Kafka broker, the streams-app and a collector in this JVM, tracking a bundled",
      "service that leaks a little per request. Serves the report page and /metrics; prints a live top table."
    })
final class DemoCommand implements Callable<Integer> {
  /**
   * Finer than a service's default (512 KiB): a minute of the demo leaks about 12,000 keys of 422
   * bytes, which at 64 KiB gave about 77 samples, one standard deviation 11%, and first users saw
   * -20.8% and +23.3%. At 8 KiB about 600 samples: 4%. The service allocates ~12 MB/s, so this is
   * ~1,500 samples a second, far below what the local pipeline carries.
   */
  static final long DEMO_SAMPLE_BYTES = 8192;

  @Option(
      names = "--duration",
      paramLabel = "S",
      description = "stop after S seconds (default: until Ctrl-C)")
  Integer duration;

  @Option(
      names = "--http-port",
      defaultValue = "8080",
      paramLabel = "P",
      description = "report page and /metrics port (default ${DEFAULT-VALUE})")
  int httpPort;

  @Option(
      names = "--rate",
      defaultValue = "2000",
      description = "requests per second of the demo service (default ${DEFAULT-VALUE})")
  int rate;

  @Override
  public Integer call() throws Exception {
    if (!Files.isExecutable(Home.demoService())) {
      System.err.println("leakwatch demo: the demo service is not built at " + Home.demoService());
      return 1;
    }
    System.out.println(
        "leakwatch demo: starting a Kafka broker, the streams-app and a collector (local mode)...");
    CountDownLatch stop = new CountDownLatch(1);
    Path serviceOut = Files.createTempFile("leaky-service-", ".out");
    Thread hook = new Thread(stop::countDown, "demo-stop");
    Runtime.getRuntime().addShutdownHook(hook);
    try (LocalStack stack =
        LocalStack.start(LocalStack.Options.headless().withHttpPort(httpPort))) {
      ProcessBuilder pb =
          new ProcessBuilder(Home.demoService().toString(), "0", Integer.toString(rate))
              .redirectErrorStream(true)
              .redirectOutput(ProcessBuilder.Redirect.to(serviceOut.toFile()));
      pb.environment().put("LD_PRELOAD", Home.agent().toString());
      pb.environment().put("LEAKWATCH_RUN_DIR", stack.runDir.toString());
      pb.environment().put("LEAKWATCH_SAMPLE_BYTES", Long.toString(DEMO_SAMPLE_BYTES));
      Process service = pb.start();
      int port = stack.streams.httpPort();
      System.out.printf(
          Locale.ROOT,
          "%nTracking leaky-service (pid %d), sampling one allocation per %d bytes on average.%n",
          service.pid(),
          DEMO_SAMPLE_BYTES);
      System.out.printf(Locale.ROOT, "  report page:  http://127.0.0.1:%d/%n", port);
      System.out.printf(
          Locale.ROOT,
          "  report JSON:  http://127.0.0.1:%d/api/report?process=leaky-service%n",
          port);
      System.out.printf(Locale.ROOT, "  metrics:      http://127.0.0.1:%d/metrics%n", port);
      System.out.printf(Locale.ROOT, "  Kafka:        %s%n%n", stack.kafka.bootstrapServers());
      long start = System.nanoTime();
      long end = duration == null ? Long.MAX_VALUE : start + TimeUnit.SECONDS.toNanos(duration);
      while (System.nanoTime() < end && service.isAlive()) {
        long wait =
            Math.min(5_000, Math.max(1, TimeUnit.NANOSECONDS.toMillis(end - System.nanoTime())));
        if (stop.await(wait, TimeUnit.MILLISECONDS)) break;
        printTop(stack, (int) service.pid(), (System.nanoTime() - start) / 1e9);
      }
      service.destroy(); // SIGTERM: it finishes its requests and says how many keys it leaked
      if (!service.waitFor(10, TimeUnit.SECONDS)) service.destroyForcibly();
      printVerdict(stack, (int) service.pid(), serviceOut);
      System.out.println("leakwatch demo: stopped.");
    } finally {
      Files.deleteIfExists(serviceOut);
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // Ctrl-C: the JVM is already on its way out
      }
    }
    return 0;
  }

  private static final Pattern LEAKED = Pattern.compile("leaked (\\d+) keys of (\\d+) bytes");

  /**
   * The final report, and how right it was: the service knows how many keys it leaked, and the
   * stacks through verify_signature are leakwatch's estimate of them (sampled, so not exact).
   */
  private static void printVerdict(LocalStack stack, int pid, Path serviceOut) throws Exception {
    Optional<ProcessReport> last = Optional.empty();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (System.nanoTime() < deadline) {
      try {
        last = stack.streams.reports().report(stack.host, pid);
      } catch (RuntimeException e) {
        last = Optional.empty(); // a store between owners: ask again
      }
      if (last.isPresent() && last.get().process().exited() && last.get().stacksResolved()) break;
      Thread.sleep(200);
    }
    if (last.isEmpty()) {
      System.out.println(
          "leakwatch demo: no final report (the service's exit was not seen in 30 s)");
      return;
    }
    System.out.println();
    System.out.print(TextReport.render(last.get()));
    Matcher m = LEAKED.matcher(Files.readString(serviceOut));
    if (!m.find()) return;
    long truth = Long.parseLong(m.group(1)) * Long.parseLong(m.group(2));
    long estimate = 0;
    for (StackRow s : last.get().stacks()) {
      if (s.culprit() != null && s.culprit().contains("verify_signature")) estimate += s.bytes();
    }
    System.out.printf(
        Locale.ROOT,
        "How right was it? The service leaked %s keys of %s bytes: %s. leakwatch estimated %s at"
            + " verify_signature (%+.1f%%), sampling one allocation per %s on average"
            + " (one standard deviation at that rate: %.1f%%).%n",
        m.group(1),
        m.group(2),
        bytes(truth),
        bytes(estimate),
        truth == 0 ? 0.0 : 100.0 * (estimate - truth) / truth,
        bytes(DEMO_SAMPLE_BYTES),
        100 * relativeSpread(Long.parseLong(m.group(1)), Long.parseLong(m.group(2))));
  }

  /**
   * The estimate's relative standard deviation for {@code keys} blocks of {@code size} bytes: each
   * is sampled with probability p = 1 - exp(-size / sampleBytes) and then counts size / p, so the
   * sum's variance is keys * size^2 * (1 - p) / p.
   */
  static double relativeSpread(long keys, long size) {
    if (keys <= 0 || size <= 0) return 0;
    double p = -Math.expm1(-(double) size / DEMO_SAMPLE_BYTES);
    return Math.sqrt((1 - p) / (keys * p));
  }

  private static void printTop(LocalStack stack, int pid, double seconds) {
    Optional<ProcessReport> r;
    try {
      r = stack.streams.reports().report(stack.host, pid);
    } catch (RuntimeException e) {
      System.out.printf(
          Locale.ROOT,
          "[%5.0f s] (state not queryable yet: %s)%n",
          seconds,
          e.getClass().getSimpleName());
      return;
    }
    if (r.isEmpty()) {
      System.out.printf(Locale.ROOT, "[%5.0f s] waiting for the first events...%n", seconds);
      return;
    }
    ProcessReport rep = r.get();
    Long privateBytes = rep.counters().privateBytes();
    System.out.printf(
        Locale.ROOT,
        "[%5.0f s] leaky-service pid %d: outstanding %s in %,d allocations (estimate); private %s; lost %d%n",
        seconds,
        pid,
        bytes(rep.outstanding().bytes()),
        rep.outstanding().allocations(),
        privateBytes != null ? bytes(privateBytes) : "?",
        rep.tracking().lostEvents());
    System.out.printf(Locale.ROOT, "    %-24s %12s %12s%n", "allocator", "bytes", "allocations");
    int n = 0;
    for (AllocatorRow a : rep.allocators()) {
      if (n++ == 4) break;
      System.out.printf(
          Locale.ROOT, "    %-24s %12s %,12d%n", a.module(), bytes(a.bytes()), a.allocations());
    }
    System.out.printf(
        Locale.ROOT, "    %-12s %-6s %s%n", "stack bytes", "oldest", "culprit (allocator)");
    n = 0;
    for (StackRow s : rep.stacks()) {
      if (n++ == 3) break;
      System.out.printf(
          Locale.ROOT,
          "    %-12s %5.0fs %s (%s)%n",
          bytes(s.bytes()),
          s.oldestAgeSeconds(),
          s.culprit(),
          s.allocator());
    }
    System.out.println();
  }

  static String bytes(long v) {
    return Units.bytes(v);
  }
}
