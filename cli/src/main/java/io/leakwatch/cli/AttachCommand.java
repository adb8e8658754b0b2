package io.leakwatch.cli;

import io.leakwatch.collector.CollectorConfig;
import io.leakwatch.streams.report.Units;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import sun.misc.Signal;

@Command(
    name = "attach",
    footer = {
      "",
      "Examples:",
      "  ./leakwatch attach --pid 4242 --exact --duration 600",
      "  ./leakwatch attach --pid 4242 --report html --report-file leaks.html   (Ctrl-C to end)",
      "  ./leakwatch attach --pid 4242 --fleet     (this host's collector publishes it)",
      "  ./leakwatch detach --pid 4242"
    },
    description = {
      "Tracks a process that is already running, started without leakwatch: loads the shim into it",
      "(ptrace, for a few milliseconds), routes its allocation calls through it, and at the end",
      "(--duration, its exit, Ctrl-C or `leakwatch detach`) routes them back and reports what it",
      "allocated since the attach and still holds. Blocks from before the attach are not counted."
    })
final class AttachCommand implements Callable<Integer> {
  @Option(names = "--pid", required = true, paramLabel = "P", description = "the process")
  long pid;

  @Mixin TrackingOptions tracking = new TrackingOptions();

  @Option(
      names = "--duration",
      paramLabel = "S",
      description = "detach after S seconds (default: at its exit, Ctrl-C or leakwatch detach)")
  Long durationSeconds;

  @Option(
      names = "--fleet",
      description =
          "leave the recording to this host's collector (its run directory) and return at once")
  boolean fleet;

  @Option(
      names = "--run-dir",
      paramLabel = "DIR",
      description =
          "with --fleet: the collector's run directory (default LEAKWATCH_RUN_DIR or /dev/shm/leakwatch)")
  Path runDir;

  @Option(
      names = "--timeout",
      defaultValue = "120",
      description =
          "seconds to wait for the report after the detach without the pipeline moving (default"
              + " ${DEFAULT-VALUE})")
  int timeoutSeconds;

  @Override
  public Integer call() throws Exception {
    String problem = tracking.problem();
    if (problem != null) {
      System.err.println("leakwatch attach: " + problem);
      return 2;
    }
    long sample = tracking.sampleBytes();
    Optional<ProcessHandle> target = ProcessHandle.of(pid);
    if (target.isEmpty() || !target.get().isAlive()) {
      System.err.println("leakwatch attach: no process " + pid);
      return 3;
    }
    if (fleet) {
      Path dir = runDir != null ? runDir : CollectorConfig.runDirFromEnvironment();
      Injector.Outcome o = Injector.attach(pid, sample, dir);
      if (!o.ok()) return failed(o);
      System.err.printf(
          Locale.ROOT,
          "leakwatch: attached to pid %d (it paused %.1f ms); this host's collector publishes its"
              + " ring from %s. End it with: ./leakwatch detach --pid %d%n",
          pid,
          o.pausedMicros() / 1000.0,
          dir,
          pid);
      return 0;
    }
    return attachLocal(target.get(), sample);
  }

  private int failed(Injector.Outcome o) {
    System.err.println("leakwatch attach: " + o.message());
    return o.exitCode();
  }

  private int attachLocal(ProcessHandle target, long sample) throws Exception {
    System.err.println("leakwatch: starting local Kafka, streams and collector...");
    try (LocalStack stack = LocalStack.start(LocalStack.Options.headless())) {
      // The target writes its ring here: another user's process needs a sticky, writable directory
      // (the shim refuses a writable one that is not sticky).
      if (!ownedByUs(target.pid())) setSticky(stack.runDir);
      Injector.Outcome o = Injector.attach(pid, sample, stack.runDir);
      if (!o.ok()) return failed(o);
      System.err.printf(
          Locale.ROOT,
          "leakwatch: attached to pid %d, %s (it paused %.1f ms); recording %s%n",
          pid,
          sample == 0 ? "exact" : "sampling every " + Units.bytes(sample),
          o.pausedMicros() / 1000.0,
          durationSeconds != null
              ? "for " + Units.duration(durationSeconds)
              : "until it exits, Ctrl-C or ./leakwatch detach --pid " + pid);
      AtomicBoolean interrupted = new AtomicBoolean();
      Signal.handle(new Signal("INT"), s -> interrupted.set(true));
      Signal.handle(new Signal("TERM"), s -> interrupted.set(true));
      long until =
          durationSeconds != null
              ? System.nanoTime() + durationSeconds * 1_000_000_000L
              : Long.MAX_VALUE;
      while (target.isAlive()
          && System.nanoTime() < until
          && !interrupted.get()
          && stack.collector.retiredStartMs((int) pid).isEmpty()) {
        Thread.sleep(200);
      }
      if (target.isAlive() && stack.collector.retiredStartMs((int) pid).isEmpty()) {
        Injector.Outcome d = Injector.detach(pid);
        if (d.ok())
          System.err.printf(
              Locale.ROOT,
              "leakwatch: detached from pid %d (it paused %.1f ms)%n",
              pid,
              d.pausedMicros() / 1000.0);
        else System.err.println("leakwatch: detach: " + d.message());
      } else if (!target.isAlive()) {
        System.err.println("leakwatch: pid " + pid + " exited");
      }
      RunCommand.Awaited awaited = RunCommand.awaitLocalReport(stack, (int) pid, timeoutSeconds);
      if (awaited.report().isEmpty()) {
        System.err.println(
            "leakwatch attach: no report for pid "
                + pid
                + (awaited.neverSeen() ? " (its ring was never read)" : ": " + awaited.whyNot()));
        return 1;
      }
      tracking.write(awaited.report().get(), stack.streams.history());
      return 0;
    }
  }

  private static boolean ownedByUs(long pid) {
    try {
      Object uid = Files.getAttribute(Path.of("/proc", Long.toString(pid)), "unix:uid");
      Object ours = Files.getAttribute(Path.of("/proc/self"), "unix:uid");
      return uid.equals(ours);
    } catch (Exception e) {
      return true;
    }
  }

  private static void setSticky(Path dir) throws Exception {
    new ProcessBuilder("chmod", "1733", dir.toString()).start().waitFor();
  }
}
