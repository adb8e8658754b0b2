package io.leakwatch.cli;

import com.sun.jna.Function;
import com.sun.jna.NativeLibrary;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Predicate;
import java.util.stream.Stream;

/**
 * Lowers the CPU priority of every thread of this JVM (the broker, the Streams app, the collector
 * of a local run) so the tracked program, started before at normal priority, wins whenever they
 * compete for a core. Measured on the 2-core VM: the churn under {@code run} took 1.70x its bare
 * time with our threads at normal priority and about 1.15x at nice 10, the same as with the JVM
 * pinned to the other core; the rest is the shim's own cost. A nice value only matters while cores
 * are contended, so the pipeline runs at full speed once the program has exited (the drain and the
 * report). New threads inherit the nice value of the thread that creates them.
 *
 * <p>In exact mode the ring must be drained before it fills, so the thread that drains it (and the
 * JVM's garbage-collection and safepoint threads, which stop it while they run) keep their share;
 * the rest (Streams, the broker, the JIT compilers) steps aside. Kafka holds what the collector
 * published until Streams gets to it after the program exits.
 */
final class YieldToTarget {
  private static final int PRIO_PROCESS = 0;

  private YieldToTarget() {}

  /**
   * Sets every thread of this JVM to {@code nice}; returns how many were changed (0 where the
   * platform does not allow it: nothing else changes then).
   */
  static int lowerOwnPriority(int nice) {
    return lowerOwnPriority(nice, name -> false);
  }

  /**
   * Thread names (as the kernel keeps them: the first 15 bytes of the Java name) that keep their
   * priority in exact mode: the collector's ring drain, the JVM's stop-the-world workers.
   */
  static boolean drainsOrStopsTheDrain(String comm) {
    return comm.equals("leakwatch-colle")
        || comm.equals("VM Thread")
        || comm.startsWith("GC Thread")
        || comm.startsWith("G1 ");
  }

  /** As {@link #lowerOwnPriority(int)}, leaving the threads whose kernel name {@code keep}s. */
  static int lowerOwnPriority(int nice, Predicate<String> keep) {
    Function setpriority;
    try {
      setpriority = NativeLibrary.getInstance("c").getFunction("setpriority");
    } catch (UnsatisfiedLinkError | RuntimeException e) {
      return 0;
    }
    int changed = 0;
    try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task"))) {
      for (Path t : tasks.toList()) {
        int tid;
        try {
          tid = Integer.parseInt(t.getFileName().toString());
        } catch (NumberFormatException e) {
          continue;
        }
        if (keep.test(comm(t))) continue;
        // On Linux, PRIO_PROCESS with a thread id sets that one thread's nice value.
        if (setpriority.invokeInt(new Object[] {PRIO_PROCESS, tid, nice}) == 0) changed++;
      }
    } catch (IOException | RuntimeException e) {
      return changed;
    }
    return changed;
  }

  private static String comm(Path task) {
    try {
      return Files.readString(task.resolve("comm")).strip();
    } catch (IOException | RuntimeException e) {
      return ""; // a thread that has just ended
    }
  }
}
