package io.leakwatch.collector.ring;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.collector.NativeRuns;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LEAKWATCH_RING_POPULATE=P faults the whole ring in only in the process whose parent is P (the
 * program `leakwatch run` starts); the programs it runs get rings that fill as they are used.
 * Before, every child committed a whole exact-mode ring (256 MiB) at start: CPython's
 * test_subprocess, which starts hundreds, ran 2.3 times longer under `run --exact`.
 */
class RingPopulateTest {
  private static final long RING = 16 << 20;

  @TempDir Path runDir;

  private static long allocatedBytes(Path file) throws Exception {
    Process p = new ProcessBuilder("stat", "-c", "%b %B", file.toString()).start();
    String[] out = new String(p.getInputStream().readAllBytes()).trim().split(" ");
    p.waitFor();
    return Long.parseLong(out[0]) * Long.parseLong(out[1]);
  }

  @Test
  void onlyTheProcessStartedByThisParentFaultsItsRingIn() throws Exception {
    String churn = NativeRuns.churn().toString();
    String small = churn + " -t 1 -p 10 -n 1 -s 100 -k 0";
    List<Path> rings =
        NativeRuns.runWithEnv(
            runDir,
            Map.of(
                "LEAKWATCH_SAMPLE_BYTES", "0",
                "LEAKWATCH_RING_BYTES", Long.toString(RING),
                "LEAKWATCH_RING_POPULATE", Long.toString(ProcessHandle.current().pid())),
            "bash",
            "-c",
            small + "; " + small + "; exit 0");
    List<Long> full = new ArrayList<>(), partial = new ArrayList<>();
    for (Path ring : rings) {
      long bytes = allocatedBytes(ring);
      (bytes >= RING ? full : partial).add(bytes);
    }
    assertThat(full).as("bash, started by this JVM, faulted its ring in").hasSize(1);
    // the two programs bash ran, and bash's forked children (they allocate before their exec)
    assertThat(partial).as("what bash started did not").hasSizeGreaterThanOrEqualTo(2);
    assertThat(partial).allMatch(b -> b < RING / 4);
  }

  @Test
  void oneFaultsItInInEveryProgram() throws Exception {
    String small = NativeRuns.churn() + " -t 1 -p 10 -n 1 -s 100 -k 0";
    List<Path> rings =
        NativeRuns.runWithEnv(
            runDir,
            Map.of(
                "LEAKWATCH_SAMPLE_BYTES", "0",
                "LEAKWATCH_RING_BYTES", Long.toString(RING),
                "LEAKWATCH_RING_POPULATE", "1"),
            "bash",
            "-c",
            small + "; " + small + "; exit 0");
    long full = 0;
    for (Path ring : rings) if (allocatedBytes(ring) >= RING) full++;
    // bash and the two programs; a forked child before its exec never (it has one thread and
    // the parent's memory, and most exec at once)
    assertThat(full).isEqualTo(3);
  }
}
