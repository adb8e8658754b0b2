package io.leakwatch.cli;

import io.leakwatch.streams.report.Units;
import io.leakwatch.streams.report.model.AllocatorRow;
import io.leakwatch.streams.report.model.ProcessReport;
import io.leakwatch.streams.report.model.StackRow;
import java.nio.file.Files;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
    name = "demo",
    description = {
      "The main job on one box: a real Kafka broker, the streams-app and a collector in this JVM, tracking a bundled",
      "service that leaks a little per request. Serves the report page and /metrics; prints a live top table."
    })
final class DemoCommand implements Callable<Integer> {
  static final long DEMO_SAMPLE_BYTES = 65536;

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
    Thread hook = new Thread(stop::countDown, "demo-stop");
    Runtime.getRuntime().addShutdownHook(hook);
    try (LocalStack stack =
        LocalStack.start(LocalStack.Options.headless().withHttpPort(httpPort))) {
      ProcessBuilder pb =
          new ProcessBuilder(Home.demoService().toString(), "0", Integer.toString(rate))
              .redirectErrorStream(true)
              .redirectOutput(ProcessBuilder.Redirect.DISCARD);
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
      service.destroy();
      service.waitFor(5, TimeUnit.SECONDS);
      System.out.println("leakwatch demo: stopped.");
    } finally {
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // Ctrl-C: the JVM is already on its way out
      }
    }
    return 0;
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
