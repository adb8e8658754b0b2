package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Which of our threads step aside for the tracked program, read back from the kernel. */
class YieldToTargetTest {
  private static final int SCHED_OTHER = 0;
  private static final int SCHED_IDLE = 5;

  /** Fields of a thread's stat line after its parenthesised name: [0] is field 3 (state). */
  private static String[] stat(int tid) throws IOException {
    String stat = Files.readString(Path.of("/proc/self/task", Integer.toString(tid), "stat"));
    return stat.substring(stat.lastIndexOf(')') + 2).split(" ");
  }

  private static int policy(int tid) throws IOException {
    return Integer.parseInt(stat(tid)[41 - 3]);
  }

  private static int nice(int tid) throws IOException {
    return Integer.parseInt(stat(tid)[19 - 3]);
  }

  private static int ownTid() {
    return YieldToTarget.ownTid();
  }

  /** A started thread that gives its kernel id to {@code tid}, then waits for {@code done}. */
  private static Thread parked(String name, CompletableFuture<Integer> tid, CountDownLatch done) {
    Thread t =
        new Thread(
            () -> {
              tid.complete(ownTid());
              try {
                done.await();
              } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
              }
            },
            name);
    t.start();
    return t;
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
  void onlyTheThreadsNotKeptStepAsideAndWhatTheyStartInherits() throws Exception {
    CountDownLatch steppedAside = new CountDownLatch(1);
    CountDownLatch done = new CountDownLatch(1);
    CompletableFuture<Integer> asideTid = new CompletableFuture<>();
    CompletableFuture<Integer> keptTid = new CompletableFuture<>();
    CompletableFuture<Integer> childPolicy = new CompletableFuture<>();
    Thread aside =
        new Thread(
            () -> {
              asideTid.complete(ownTid());
              try {
                steppedAside.await();
                // A thread started later (Kafka starts some lazily) by one that stepped aside.
                Thread child =
                    new Thread(
                        () -> {
                          try {
                            childPolicy.complete(policy(ownTid()));
                          } catch (IOException e) {
                            childPolicy.completeExceptionally(e);
                          }
                        },
                        "lw-yield-child");
                child.start();
                child.join();
                done.await();
              } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
              }
            },
            "lw-yield-aside");
    Thread kept = parked("lw-yield-keep", keptTid, done);
    aside.start();
    try {
      int a = asideTid.get(10, TimeUnit.SECONDS);
      int k = keptTid.get(10, TimeUnit.SECONDS);
      // The JVM names a thread for the kernel (its comm) inside the new thread, before run(): by
      // now both names are set. Only this test's two threads are offered: the rest of this JVM
      // keeps its priority.
      // This test runs as root (CI and the development VM): coming back is allowed.
      assertThat(YieldToTarget.canComeBackFromIdle()).isTrue();
      int moved =
          YieldToTarget.stepAside(List.of(a, k), comm -> comm.equals("lw-yield-keep"), 7, true);
      assertThat(moved).isEqualTo(1);
      assertThat(policy(a)).isEqualTo(SCHED_IDLE);
      assertThat(policy(k)).isEqualTo(SCHED_OTHER);
      assertThat(nice(k)).isEqualTo(7);
      steppedAside.countDown();
      assertThat(childPolicy.get(10, TimeUnit.SECONDS)).isEqualTo(SCHED_IDLE);
      // After the program: both back to normal priority.
      assertThat(YieldToTarget.comeBack(List.of(a, k))).isEqualTo(2);
      assertThat(policy(a)).isEqualTo(SCHED_OTHER);
      assertThat(nice(a)).isZero();
      assertThat(nice(k)).isZero();
    } finally {
      steppedAside.countDown();
      done.countDown();
      aside.join();
      kept.join();
    }
  }

  /** Where coming back from SCHED_IDLE is not allowed, the threads step aside at nice 10. */
  @Test
  void withoutIdleTheThreadsStepAsideAtNiceTen() throws Exception {
    CompletableFuture<Integer> tid = new CompletableFuture<>();
    CountDownLatch done = new CountDownLatch(1);
    Thread t = parked("lw-yield-nice", tid, done);
    try {
      int a = tid.get(10, TimeUnit.SECONDS);
      assertThat(YieldToTarget.stepAside(List.of(a), comm -> false, 0, false)).isEqualTo(1);
      assertThat(policy(a)).isEqualTo(SCHED_OTHER);
      assertThat(nice(a)).isEqualTo(10);
    } finally {
      done.countDown();
      t.join();
    }
  }
}
