package io.leakwatch.cli;

import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
    name = "detach",
    footer = {"", "Examples:", "  ./leakwatch detach --pid 4242"},
    description = {
      "Ends the recording that `leakwatch attach` started in a running process: its allocation calls",
      "go back to the allocator directly, its ring is closed, and the report of the attach is final."
    })
final class DetachCommand implements Callable<Integer> {
  @Option(names = "--pid", required = true, paramLabel = "P", description = "the attached process")
  long pid;

  @Override
  public Integer call() throws Exception {
    Injector.Outcome o = Injector.detach(pid);
    if (!o.ok()) {
      System.err.println("leakwatch detach: " + o.message());
      return o.exitCode();
    }
    System.err.printf(
        Locale.ROOT,
        "leakwatch: detached from pid %d (it paused %.1f ms)%n",
        pid,
        o.pausedMicros() / 1000.0);
    return 0;
  }
}
