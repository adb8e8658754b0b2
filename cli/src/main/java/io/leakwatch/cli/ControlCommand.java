package io.leakwatch.cli;

import io.leakwatch.collector.CollectorConfig;
import io.leakwatch.collector.ring.RingFile;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
    name = "control",
    footer = {
      "",
      "Examples:",
      "  ./leakwatch control --pid 4242 --dormant on",
      "  ./leakwatch control --pid 4242 --dormant off"
    },
    description = "Switches tracking of a running process dormant or active, without a restart.")
final class ControlCommand implements Callable<Integer> {
  @Option(names = "--pid", required = true, description = "the tracked process")
  int pid;

  @Option(
      names = "--dormant",
      required = true,
      arity = "1",
      paramLabel = "on|off",
      description =
          "on: record no new allocations (frees of recorded ones still are); off: record again")
  String dormant;

  @Option(
      names = "--run-dir",
      description = "where its ring is (default LEAKWATCH_RUN_DIR or /dev/shm/leakwatch)")
  Path runDir;

  @Override
  public Integer call() throws Exception {
    if (!dormant.equals("on") && !dormant.equals("off")) {
      System.err.println("leakwatch control: --dormant takes on or off");
      return 2;
    }
    Path dir = runDir != null ? runDir : CollectorConfig.runDirFromEnvironment();
    int changed = 0;
    try (DirectoryStream<Path> rings =
        Files.newDirectoryStream(dir, "leakwatch-" + pid + "-*.ring")) {
      for (Path p : rings) {
        try (RingFile ring = RingFile.open(p)) {
          if (ring.pid() != pid) continue;
          ring.setDormant(dormant.equals("on"));
          changed++;
        }
      }
    }
    if (changed == 0) {
      System.err.println("leakwatch control: no ring for pid " + pid + " in " + dir);
      return 1;
    }
    System.out.println(
        "pid " + pid + ": tracking " + (dormant.equals("on") ? "dormant" : "active"));
    return 0;
  }
}
