package io.leakwatch.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs {@code leakwatch-inject} (collector/src/main/c/inject.c), which loads the shim into a
 * running process and starts or ends its recording there, and turns its answer into one line.
 */
final class Injector {
  /** What leakwatch-inject said: its exit status, its message, and the target's pause. */
  record Outcome(int status, String message, long pausedMicros) {
    boolean ok() {
      return status == 0;
    }

    /** The CLI's exit code for it: 1 for a refusal or failure, 4 for no permission, 3 gone. */
    int exitCode() {
      return switch (status) {
        case 0 -> 0;
        case 4 -> 4;
        case 5 -> 3;
        default -> 1;
      };
    }
  }

  private Injector() {}

  static Path binary() {
    Path p = Home.nativeDir().resolve("leakwatch-inject");
    if (!Files.isExecutable(p))
      throw new IllegalStateException(
          "leakwatch-inject not built at " + p + " (run ./leakwatch once, or mvn install)");
    return p;
  }

  static Outcome attach(long pid, long sampleBytes, Path runDir)
      throws IOException, InterruptedException {
    String settings =
        "LEAKWATCH_SAMPLE_BYTES=" + sampleBytes + "\nLEAKWATCH_RUN_DIR=" + runDir.toAbsolutePath();
    return run(
        List.of(
            binary().toString(), "attach", Long.toString(pid), Home.agent().toString(), settings));
  }

  static Outcome detach(long pid) throws IOException, InterruptedException {
    return run(List.of(binary().toString(), "detach", Long.toString(pid), Home.agent().toString()));
  }

  private static Outcome run(List<String> command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).start();
    p.getOutputStream().close();
    if (!p.waitFor(10, TimeUnit.SECONDS)) {
      // A target that does not come back from the call (a lock it holds elsewhere?). Killing the
      // injector now would leave that call returning to nowhere: wait, and say so.
      System.err.println(
          "leakwatch: pid "
              + command.get(2)
              + " has not come back from the "
              + command.get(1)
              + " call in 10 s; still waiting (leakwatch-inject pid "
              + p.pid()
              + ")");
      p.waitFor();
    }
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    long paused = 0;
    for (String token : out.split("\\s+"))
      if (token.startsWith("paused_us=")) paused = Long.parseLong(token.substring(10));
    String message = err.startsWith("leakwatch-inject: ") ? err.substring(18) : err;
    return new Outcome(p.exitValue(), p.exitValue() == 0 ? out : message, paused);
  }
}
