package io.leakwatch.cli;

import com.sun.jna.Function;
import com.sun.jna.Memory;
import com.sun.jna.NativeLibrary;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import java.util.stream.Stream;

/**
 * Moves the threads of this JVM (the broker, the Streams app, the JIT compilers of a local run) to
 * Linux's {@code SCHED_IDLE} policy while the tracked program runs: they then run only on a core
 * the program leaves free and never preempt it. Measured on the 2-core VM (churn under {@code run},
 * the loop's wall time minus its task-clock): with every thread at nice 10, as before, churn was
 * kept off its core for 16-30 ms of each second; with the threads that step aside at {@code
 * SCHED_IDLE}, 8.5-10 ms. At normal priority churn had taken 1.70x its bare time.
 *
 * <p>The collector's ring drain and the JVM's garbage-collection and safepoint threads (which stop
 * the drain while they run) keep a share: nice 10 in sampled mode, their priority in exact mode.
 * When the program keeps every core busy, the drain and what it waits for (the broker, the JIT)
 * starve: {@code run}'s rings then wait for room (LEAKWATCH_RING_FULL_WAIT_MS), the program's waits
 * free the cores, and nothing is lost. Kafka holds what the collector published until Streams gets
 * to it after the program exits. New threads inherit the policy of the thread that creates them.
 * Where the kernel refuses {@code SCHED_IDLE} (a seccomp profile), nice 19.
 */
final class YieldToTarget {
  private static final int PRIO_PROCESS = 0;
  private static final int SCHED_IDLE = 5;

  private YieldToTarget() {}

  /**
   * Thread names (as the kernel keeps them: the first 15 bytes of the Java name) that keep their
   * priority: the collector's ring drain, the JVM's stop-the-world workers.
   */
  static boolean drainsOrStopsTheDrain(String comm) {
    return comm.equals("leakwatch-colle")
        || comm.equals("VM Thread")
        || comm.startsWith("GC Thread")
        || comm.startsWith("G1 ");
  }

  /**
   * Every thread of this JVM but the drain and what stops it steps aside; those are set to {@code
   * keptNice} (0 leaves them as they are). Returns how many stepped aside.
   */
  static int stepAside(int keptNice) {
    return stepAside(ownThreads(), YieldToTarget::drainsOrStopsTheDrain, keptNice);
  }

  /**
   * The threads {@code tids} whose kernel name {@code keep} does not keep go to {@code SCHED_IDLE}
   * (nice 19 where that is refused), the others to {@code keptNice} (0: as they are); returns how
   * many stepped aside (0 where neither call exists).
   */
  static int stepAside(List<Integer> tids, Predicate<String> keep, int keptNice) {
    Function setpriority;
    Function setscheduler;
    try {
      NativeLibrary c = NativeLibrary.getInstance("c");
      setpriority = c.getFunction("setpriority");
      setscheduler = c.getFunction("sched_setscheduler");
    } catch (UnsatisfiedLinkError | RuntimeException e) {
      return 0;
    }
    int aside = 0;
    try (Memory noRealtimePriority = new Memory(4)) { // struct sched_param { int priority; } = {0}
      noRealtimePriority.setInt(0, 0);
      for (int tid : tids) {
        if (keep.test(comm(tid))) {
          if (keptNice != 0) setpriority.invokeInt(new Object[] {PRIO_PROCESS, tid, keptNice});
          continue;
        }
        // On Linux both calls take a thread id where they say pid: they act on that one thread.
        if (setscheduler.invokeInt(new Object[] {tid, SCHED_IDLE, noRealtimePriority}) == 0
            || setpriority.invokeInt(new Object[] {PRIO_PROCESS, tid, 19}) == 0) aside++;
      }
    }
    return aside;
  }

  /** The thread ids of this JVM (as many as /proc could list). */
  private static List<Integer> ownThreads() {
    List<Integer> tids = new ArrayList<>();
    try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task"))) {
      for (Path t : tasks.toList()) {
        try {
          tids.add(Integer.parseInt(t.getFileName().toString()));
        } catch (NumberFormatException e) {
          // not a thread's directory
        }
      }
    } catch (IOException | RuntimeException e) {
      return tids;
    }
    return tids;
  }

  private static String comm(int tid) {
    try {
      return Files.readString(Path.of("/proc/self/task", Integer.toString(tid), "comm")).strip();
    } catch (IOException | RuntimeException e) {
      return ""; // a thread that has just ended
    }
  }
}
