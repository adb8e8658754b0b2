package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** Which of our threads step aside for the tracked program, read back from the kernel. */
class YieldToTargetTest {
  /** Kernel name (comm) to nice value of every thread of this JVM. */
  private static Map<String, List<Integer>> niceByComm() throws IOException {
    Map<String, List<Integer>> out = new HashMap<>();
    try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task"))) {
      for (Path t : tasks.toList()) {
        String comm = Files.readString(t.resolve("comm")).strip();
        String stat = Files.readString(t.resolve("stat"));
        // Fields after the parenthesised name: state is field 3, nice field 19.
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        out.computeIfAbsent(comm, k -> new ArrayList<>()).add(Integer.parseInt(f[16]));
      }
    }
    return out;
  }

  @Test
  void theRingDrainAndTheStopTheWorldThreadsAreKeptAndOthersAreNot() {
    assertThat(YieldToTarget.drainsOrStopsTheDrain("leakwatch-colle")).isTrue();
    assertThat(YieldToTarget.drainsOrStopsTheDrain("VM Thread")).isTrue();
    assertThat(YieldToTarget.drainsOrStopsTheDrain("GC Thread#1")).isTrue();
    assertThat(YieldToTarget.drainsOrStopsTheDrain("G1 Refine#0")).isTrue();
    for (String other :
        List.of(
            "leakwatch-strea",
            "kafka-producer-",
            "data-plane-kafk",
            "C2 CompilerThre",
            "C1 CompilerThre",
            "leakwatch-sourc",
            "main")) assertThat(YieldToTarget.drainsOrStopsTheDrain(other)).as(other).isFalse();
  }

  @Test
  void onlyTheThreadsNotKeptAreLowered() throws Exception {
    CountDownLatch done = new CountDownLatch(1);
    // The JVM names a thread for the kernel (its comm) inside the new thread, before run(): until
    // both have started, /proc may still show one under its parent's name (run 46 saw that).
    CountDownLatch started = new CountDownLatch(2);
    List<Thread> threads = new ArrayList<>();
    for (String name : List.of("lw-yield-lower", "lw-yield-keep")) {
      Thread t =
          new Thread(
              () -> {
                started.countDown();
                try {
                  done.await();
                } catch (InterruptedException ignored) {
                  Thread.currentThread().interrupt();
                }
              },
              name);
      t.start();
      threads.add(t);
    }
    try {
      assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
      // Only this test's own thread is lowered: the rest of this JVM keeps its priority.
      int changed = YieldToTarget.lowerOwnPriority(7, comm -> !comm.equals("lw-yield-lower"));
      Map<String, List<Integer>> nice = niceByComm();
      assertThat(changed).isEqualTo(1);
      assertThat(nice.get("lw-yield-lower")).containsExactly(7);
      assertThat(nice.get("lw-yield-keep")).containsExactly(0);
    } finally {
      done.countDown();
      for (Thread t : threads) t.join();
    }
  }
}
