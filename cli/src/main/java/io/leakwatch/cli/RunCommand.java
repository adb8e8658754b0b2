package io.leakwatch.cli;

import io.leakwatch.collector.Collector;
import io.leakwatch.collector.CollectorConfig;
import io.leakwatch.streams.report.Units;
import io.leakwatch.streams.report.model.ProcessReport;
import io.leakwatch.streams.report.model.StackRow;
import io.leakwatch.streams.report.model.Totals;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.apache.kafka.streams.errors.InvalidStateStoreException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(
    name = "run",
    footer = {
      "",
      "Examples:",
      "  ./leakwatch run -- ./my-service --port 8080",
      "  ./leakwatch run --exact --report html --report-file leaks.html -- ./batch-job",
      "  ./leakwatch run --sample-bytes 4096 --report pprof --report-file p.pb.gz -- python3 app.py",
      "  ./leakwatch run --bootstrap kafka:9092 --url http://streams:8080 -- ./svc"
    },
    description = {
      "Runs CMD with allocation tracking and reports what is still outstanding (never freed) when it exits.",
      "Without --bootstrap everything runs in this JVM (a real Kafka broker on loopback); exits with CMD's status."
    })
final class RunCommand implements Callable<Integer> {
  @Mixin TrackingOptions tracking = new TrackingOptions();

  @Option(
      names = "--bootstrap",
      paramLabel = "H:P",
      description = "publish to this Kafka; the report comes from the streams-app at --url")
  String bootstrap;

  @Option(
      names = "--url",
      defaultValue = "http://127.0.0.1:8080",
      description = "streams-app URL with --bootstrap (default ${DEFAULT-VALUE})")
  String url;

  @Option(
      names = "--timeout",
      defaultValue = "120",
      description =
          "seconds to wait for the report after CMD exits without the pipeline moving (default"
              + " ${DEFAULT-VALUE}): a big exact-mode backlog is waited for while it drains")
  int timeoutSeconds;

  @Parameters(arity = "1..*", paramLabel = "CMD", description = "the command to run, after --")
  List<String> command = new ArrayList<>();

  @Override
  public Integer call() throws Exception {
    String problem = tracking.problem();
    if (problem != null) {
      System.err.println("leakwatch run: " + problem);
      return 2;
    }
    long sample = tracking.sampleBytes();
    return bootstrap == null ? runLocal(sample) : runRemote(sample);
  }

  private int runLocal(long sample) throws Exception {
    System.err.println("leakwatch: starting local Kafka, streams and collector...");
    try (LocalStack stack = LocalStack.start(LocalStack.Options.headless())) {
      Process p = spawn(stack.runDir, sample);
      if (p == null) return 127;
      int status = waitStepAside(p, sample);
      Awaited awaited = awaitLocalReport(stack, (int) p.pid(), timeoutSeconds);
      if (awaited.report().isEmpty()) {
        System.err.println("leakwatch: no report for pid " + p.pid() + ": " + awaited.whyNot());
        return status;
      }
      tracking.write(awaited.report().get(), stack.streams.history());
      return status;
    }
  }

  /**
   * The final report, or why there is none (for the user: one line); {@code neverSeen} when the
   * process never showed up at all (no ring read).
   */
  record Awaited(Optional<ProcessReport> report, String whyNot, boolean neverSeen) {}

  /** What changes while the pipeline works on a process: its unread ring bytes, its totals. */
  private record Movement(long unreadBytes, Totals outstanding) {}

  /**
   * The final report of pid from a local stack, once its lines are in. Waits while the pipeline
   * moves (bytes leave the ring, the report changes as the streams-app applies the events): an
   * exact-mode program's backlog can take minutes to apply, and giving up on a clock while it
   * drains would throw the work away. Gives up after {@code timeoutSeconds} without movement.
   */
  static Awaited awaitLocalReport(LocalStack stack, int pid, int timeoutSeconds)
      throws InterruptedException {
    long stallNs = Duration.ofSeconds(timeoutSeconds).toNanos();
    long start = System.nanoTime(), lastMoveNs = start;
    long noRingDeadline = start + Duration.ofSeconds(15).toNanos();
    boolean seen = false;
    Movement last = null;
    DrainProgress progress = new DrainProgress(pid);
    LinesSettled lines = new LinesSettled(stack.collector);
    while (System.nanoTime() - lastMoveNs < stallNs) {
      Optional<ProcessReport> r = Optional.empty();
      try {
        r = stack.streams.reports().report(stack.host, pid);
        if (r.isPresent()) {
          seen = true;
          if (lines.complete(r.get(), stack.collector.retiredStartMs(pid)))
            return new Awaited(Optional.of(r.get()), null, false);
        }
      } catch (InvalidStateStoreException e) {
        // rebalancing: ask again
      }
      long unread = stack.collector.unreadBytes(pid);
      progress.maybeSay(unread, r);
      Movement now = new Movement(unread, r.map(ProcessReport::outstanding).orElse(null));
      if (!now.equals(last)) {
        last = now;
        lastMoveNs = System.nanoTime();
      }
      // No ring now is "never had one" only if none was drained and retired: a big exact-mode
      // ring is gone once published while the streams-app is still applying it (run 45).
      if (!seen
          && unread < 0
          && System.nanoTime() > noRingDeadline
          && stack.collector.retiredStartMs(pid).isEmpty())
        return new Awaited(
            Optional.empty(),
            "the shim did not load (a static binary or a setuid program?) or the command exec'd"
                + " something else",
            true);
      Thread.sleep(100);
    }
    return new Awaited(
        Optional.empty(),
        "nothing moved for "
            + Units.duration(timeoutSeconds)
            + " after "
            + Units.duration((System.nanoTime() - start) / 1e9)
            + " of waiting ("
            + (seen ? "its report was not final" : "no report of it")
            + "; --timeout waits longer)",
        !seen);
  }

  /**
   * What a user sees while the pipeline catches up after the command exited (a big exact-mode ring
   * takes seconds): every 2 s after the first 2, what is left and how soon it should be done.
   */
  static final class DrainProgress {
    private final int pid;
    private final long start = System.nanoTime();
    private long lastSaidNs = start;
    private long lastUnread = -1;
    private long lastUnreadNs;

    DrainProgress(int pid) {
      this.pid = pid;
    }

    void maybeSay(long unread, Optional<ProcessReport> report) {
      long now = System.nanoTime();
      if (now - start < 2_000_000_000L || now - lastSaidNs < 2_000_000_000L) return;
      lastSaidNs = now;
      String what;
      if (unread > 0) {
        what = Units.bytes(unread) + " of events still in its ring";
        if (lastUnread > unread) {
          double rate = (lastUnread - unread) / ((now - lastUnreadNs) / 1e9);
          what +=
              String.format(
                  Locale.ROOT,
                  " (publishing %s/s, about %s left)",
                  Units.bytes((long) rate),
                  Units.duration(unread / rate));
        }
      } else if (report.isEmpty() || !report.get().process().exited()) {
        what = "the events are published; the streams-app is applying them";
      } else {
        what = "the exit is recorded; naming the last stacks";
      }
      lastUnread = unread;
      lastUnreadNs = now;
      System.err.printf(
          Locale.ROOT,
          "leakwatch: waiting for the report of pid %d (%s): %s%n",
          pid,
          Units.duration((now - start) / 1e9),
          what);
    }
  }

  /**
   * The exit report of the command's last image: a command that exec'd has one report per image
   * under the same pid, and only the last one is what it held when it exited.
   */
  /**
   * The final report, and with it the file and line of its frames: the collector resolves them off
   * its publishing loop and sends the stacks again, so a report can be final before its lines are
   * in. Waits for them up to {@link #LINES_GRACE} after the report is otherwise final (a slow
   * debuginfod server must not hold the report back for minutes), then takes it as it is.
   */
  static final class LinesSettled {
    static final Duration LINES_GRACE = Duration.ofSeconds(30);
    private final Collector collector;
    private long finalSinceNs;

    LinesSettled(Collector collector) {
      this.collector = collector;
    }

    boolean complete(ProcessReport r, Optional<Long> lastImageStartMs) {
      if (!isFinalReport(r, lastImageStartMs)) return false;
      if (finalSinceNs == 0) finalSinceNs = System.nanoTime();
      if (System.nanoTime() - finalSinceNs > LINES_GRACE.toNanos()) return true;
      if (!collector.sourceLinesSettled()) return false;
      for (StackRow s : r.stacks()) {
        if (!collector.publishedWithLines(s.id())) continue;
        if (s.frames() == null || s.frames().stream().noneMatch(f -> f.file() != null))
          return false; // sent with lines, not in the streams-app's stacks store yet
      }
      return true;
    }
  }

  static boolean isFinalReport(ProcessReport r, Optional<Long> lastImageStartMs) {
    if (!r.process().exited() || !r.stacksResolved()) return false;
    if (lastImageStartMs.isEmpty()) return false;
    return Instant.parse(r.tracking().startedAt()).toEpochMilli() == lastImageStartMs.get();
  }

  private int runRemote(long sample) throws Exception {
    Path work = Files.createTempDirectory("leakwatch-run-");
    Path run = LocalStack.privateRunDir(work);
    try (Collector collector =
        new Collector(CollectorConfig.defaults(bootstrap).withRunDir(run).withHttpPort(0))
            .start()) {
      Process p = spawn(run, sample);
      if (p == null) return 127;
      int status = waitStepAside(p, sample);
      LinesSettled lines = new LinesSettled(collector);
      ProcessReport report =
          new ReportClient(url)
              .awaitExitReport(
                  CollectorConfig.localHostName(),
                  (int) p.pid(),
                  Duration.ofSeconds(timeoutSeconds),
                  r -> lines.complete(r, collector.retiredStartMs((int) p.pid())));
      tracking.write(report, null); // the remote instance's windows are unknown
      return status;
    } finally {
      LocalStack.delete(run);
      LocalStack.delete(work);
    }
  }

  /**
   * Our threads step aside for the program while it runs (see {@link YieldToTarget}): the ring
   * drain and what stops it at nice 10 in sampled mode, as they are in exact mode (every event must
   * be read before the ring fills); the rest only where a core is free. Once it has exited they
   * come back; returns its exit status.
   */
  private static int waitStepAside(Process p, long sample) throws InterruptedException {
    YieldToTarget.stepAside(sample > 0 ? 10 : 0);
    int status = p.waitFor();
    YieldToTarget.comeBack(); // the drain and the report go at full speed, busy machine or not
    return status;
  }

  private Process spawn(Path runDir, long sample) throws IOException {
    ProcessBuilder pb = new ProcessBuilder(command).inheritIO();
    Map<String, String> env = pb.environment();
    String preload = Home.agent().toString();
    String existing = env.get("LD_PRELOAD");
    env.put(
        "LD_PRELOAD", existing == null || existing.isBlank() ? preload : preload + ":" + existing);
    env.put("LEAKWATCH_RUN_DIR", runDir.toString());
    env.put("LEAKWATCH_SAMPLE_BYTES", Long.toString(sample));
    // Exact mode's 256 MiB ring faulted in at start, in one go, instead of a page fault on every
    // new 4 KiB while the program runs (65,536 of them in the first lap): the zeroing is the same,
    // the per-fault cost is not, and it is paid before main() rather than in the middle of the
    // work. Only in the process started here (its parent is this JVM): every child it forks or
    // execs would otherwise commit a whole ring too (CPython's test_subprocess: hundreds).
    if (sample == 0)
      env.putIfAbsent("LEAKWATCH_RING_POPULATE", Long.toString(ProcessHandle.current().pid()));
    // The report of a run is complete: a program that allocates faster than the collector drains
    // waits for room in its ring instead of losing events, at the collector's pace; it gives up
    // and drops (counted, reported) only if the collector stops moving for 5 s. In exact mode that
    // is a flood (millions of events a second); in sampled mode it is a program that keeps every
    // core busy, so that the collector, stepping aside at nice 10, falls behind. Services in a
    // fleet keep the default (a full ring drops: a service must never wait on us).
    env.putIfAbsent("LEAKWATCH_RING_FULL_WAIT_MS", "5000");
    String exe = Path.of(command.get(0)).getFileName().toString();
    if (exe.equals("java")) {
      // Frame pointers in JIT-compiled code let the shim's unwinder walk through Java frames to the
      // callers; the collector names them from the JVM's perf map.
      String opts = env.get("JAVA_TOOL_OPTIONS");
      env.put(
          "JAVA_TOOL_OPTIONS",
          (opts == null || opts.isBlank() ? "" : opts + " ") + "-XX:+PreserveFramePointer");
    }
    try {
      return pb.start();
    } catch (IOException e) {
      System.err.println("leakwatch run: cannot start " + command.get(0) + ": " + e.getMessage());
      return null;
    }
  }
}
