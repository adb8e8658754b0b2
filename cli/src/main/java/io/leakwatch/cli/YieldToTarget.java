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
 * Once the program has exited every thread comes back to normal priority. Only where that return is
 * allowed (see {@link #stepAside(int)}); elsewhere the threads step aside at nice 10, as before
 * this policy, since an unprivileged thread can neither leave SCHED_IDLE nor lower its nice value.
 */
final class YieldToTarget {
  private static final int PRIO_PROCESS = 0;
  private static final int SCHED_OTHER = 0;
  private static final int SCHED_IDLE = 5;
  private static final int ASIDE_NICE = 10;

  /** Whether {@link #stepAside(int)} used SCHED_IDLE, which {@link #comeBack()} then undoes. */
  private static volatile boolean usedIdle;

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
   * keptNice} (0 leaves them as they are). Returns how many stepped aside. {@code SCHED_IDLE} only
   * where this process may take its threads out of it again (root with CAP_SYS_NICE, or an
   * RLIMIT_NICE that allows nice 0; not an unprivileged user by default, nor root in a container
   * without that capability): once the program has exited, the drain, Streams and the report must
   * not wait for idle cores on a machine busy with other work. Elsewhere nice 10, which keeps a
   * tenth of a contended core, as before.
   */
  static int stepAside(int keptNice) {
    usedIdle = canComeBackFromIdle();
    return stepAside(ownThreads(), YieldToTarget::drainsOrStopsTheDrain, keptNice, usedIdle);
  }

  /** After the program: every thread back to normal priority, where it stepped aside at idle. */
  static int comeBack() {
    return usedIdle ? comeBack(ownThreads()) : 0;
  }

  /**
   * The threads {@code tids} whose kernel name {@code keep} does not keep go to {@code SCHED_IDLE}
   * when {@code idle} (nice 19 where that is refused), else to nice 10; the others to {@code
   * keptNice} (0: as they are). Returns how many stepped aside (0 where neither call exists).
   */
  static int stepAside(List<Integer> tids, Predicate<String> keep, int keptNice, boolean idle) {
    Scheduler s = Scheduler.load();
    if (s == null) return 0;
    int aside = 0;
    for (int tid : tids) {
      if (keep.test(comm(tid))) {
        if (keptNice != 0) s.nice(tid, keptNice);
        continue;
      }
      if (idle ? s.policy(tid, SCHED_IDLE) || s.nice(tid, 19) : s.nice(tid, ASIDE_NICE)) aside++;
    }
    return aside;
  }

  /** The threads {@code tids} back to SCHED_OTHER at nice 0; returns how many made it. */
  static int comeBack(List<Integer> tids) {
    Scheduler s = Scheduler.load();
    if (s == null) return 0;
    int back = 0;
    for (int tid : tids) {
      boolean policy = s.policy(tid, SCHED_OTHER);
      if (s.nice(tid, 0) && policy) back++;
    }
    return back;
  }

  /**
   * libc's calls for one thread's priority. On Linux both take a thread id where they say pid and
   * act on that one thread.
   */
  private record Scheduler(Function setpriority, Function setscheduler) {
    /** Null where the C library or either call is missing. */
    static Scheduler load() {
      try {
        NativeLibrary c = NativeLibrary.getInstance("c");
        return new Scheduler(c.getFunction("setpriority"), c.getFunction("sched_setscheduler"));
      } catch (UnsatisfiedLinkError | RuntimeException e) {
        return null;
      }
    }

    boolean nice(int tid, int nice) {
      return setpriority.invokeInt(new Object[] {PRIO_PROCESS, tid, nice}) == 0;
    }

    boolean policy(int tid, int policy) {
      try (Memory param = new Memory(4)) { // struct sched_param { int priority; } = {0}
        param.setInt(0, 0);
        return setscheduler.invokeInt(new Object[] {tid, policy, param}) == 0;
      }
    }
  }

  /**
   * Tries, on a thread of its own that ends right after, what {@link #comeBack()} will need: into
   * SCHED_IDLE and out again.
   */
  static boolean canComeBackFromIdle() {
    boolean[] ok = {false};
    Thread probe =
        new Thread(
            () -> {
              try {
                int tid = ownTid();
                ok[0] =
                    stepAside(List.of(tid), comm -> false, 0, true) == 1
                        && comeBack(List.of(tid)) == 1;
              } catch (RuntimeException e) {
                ok[0] = false;
              }
            },
            "lw-idle-probe");
    probe.start();
    try {
      probe.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
    return ok[0];
  }

  /** The kernel's id of the calling thread. */
  static int ownTid() {
    try {
      return Integer.parseInt(Path.of("/proc/thread-self").toRealPath().getFileName().toString());
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
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
