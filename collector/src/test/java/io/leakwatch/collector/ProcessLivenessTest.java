package io.leakwatch.collector;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.collector.proc.Pidfds;
import io.leakwatch.collector.proc.ProcCounters;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ProcessLivenessTest {
  private final ProcCounters proc = new ProcCounters();
  private final List<Process> children = new ArrayList<>();

  /** A followed process as retirement sees one: its pid and the start time its ring recorded. */
  record Followed(int pid, long startTicks) {}

  private ProcessLiveness<Followed> liveness(int maxPidfds) {
    return new ProcessLiveness<>(proc, Followed::pid, Followed::startTicks, maxPidfds);
  }

  private Followed spawn() throws IOException {
    Process p = new ProcessBuilder("sleep", "120").start();
    children.add(p);
    int pid = (int) p.pid();
    return new Followed(pid, proc.startTicks(pid));
  }

  @AfterEach
  void killChildren() throws InterruptedException {
    for (Process p : children) {
      p.destroyForcibly();
      p.waitFor(10, TimeUnit.SECONDS);
    }
  }

  /**
   * Our pidfds only (linked to "anon_inode:[pidfd]"): other threads of this JVM open and close
   * files while the test runs (run 50 counted one too many with every descriptor).
   */
  private static long openPidfds() throws IOException {
    try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
      return fds.filter(
              fd -> {
                try {
                  return Files.readSymbolicLink(fd).toString().contains("pidfd");
                } catch (IOException gone) {
                  return false; // closed between the listing and the read
                }
              })
          .count();
    }
  }

  @Test
  void thisKernelGivesPidfds() {
    // The collector falls back to /proc without them; this machine must exercise the pidfd path.
    int fd = Pidfds.open((int) ProcessHandle.current().pid());
    assertThat(fd).isGreaterThanOrEqualTo(0);
    Pidfds.close(fd);
  }

  @Test
  void answersAsProcDoesWhileProcessesExitOneByOne() throws Exception {
    List<Followed> followed = new ArrayList<>();
    for (int i = 0; i < 12; i++) followed.add(spawn());
    try (ProcessLiveness<Followed> byPidfd = liveness(ProcessLiveness.MAX_PIDFDS);
        ProcessLiveness<Followed> byProc = liveness(0)) {
      SplittableRandom rnd = new SplittableRandom(7);
      List<Integer> running = new ArrayList<>();
      for (int i = 0; i < children.size(); i++) running.add(i);
      for (int round = 0; round <= 12; round++) {
        byPidfd.refresh(followed);
        byProc.refresh(followed);
        if (round == 0) assertThat(byPidfd.watchedByPidfd()).isEqualTo(12);
        assertThat(byProc.watchedByPidfd()).isZero();
        for (int i = 0; i < followed.size(); i++) {
          Followed f = followed.get(i);
          boolean expected = running.contains(i);
          assertThat(byPidfd.alive(f))
              .as("round %d, child %d, pidfd", round, i)
              .isEqualTo(expected);
          assertThat(byProc.alive(f)).as("round %d, child %d, /proc", round, i).isEqualTo(expected);
          assertThat(proc.alive(f.pid(), f.startTicks())).isEqualTo(expected);
        }
        if (running.isEmpty()) break;
        int victim = running.remove(rnd.nextInt(running.size()));
        children.get(victim).destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    }
  }

  @Test
  void anExitIsSeenBeforeTheChildIsReaped() throws Exception {
    // A shell's child killed while the shell's exec'd successor, its parent, never waits: a zombie.
    Process sh = new ProcessBuilder("sh", "-c", "sleep 30 & exec sleep 120").start();
    children.add(sh);
    ProcessHandle child = null;
    for (int i = 0; i < 500 && child == null; i++) {
      child =
          sh.children()
              .filter(
                  c ->
                      c.info()
                          .arguments()
                          .map(a -> a.length > 0 && a[0].equals("30"))
                          .orElse(false))
              .findFirst()
              .orElse(null);
      if (child == null) Thread.sleep(10);
    }
    assertThat(child).as("the shell's sleep 30").isNotNull();
    int pid = (int) child.pid();
    Followed f = new Followed(pid, proc.startTicks(pid));
    try (ProcessLiveness<Followed> liveness = liveness(ProcessLiveness.MAX_PIDFDS)) {
      liveness.refresh(List.of(f));
      assertThat(liveness.watchedByPidfd()).isEqualTo(1);
      assertThat(liveness.alive(f)).isTrue();
      child.destroyForcibly();
      String state = "";
      for (int i = 0; i < 500 && !state.startsWith("Z"); i++) {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        state = stat.substring(stat.lastIndexOf(')') + 2);
        if (!state.startsWith("Z")) Thread.sleep(10);
      }
      assertThat(state).startsWith("Z");
      liveness.refresh(List.of(f));
      assertThat(liveness.alive(f)).isFalse();
    }
  }

  @Test
  void whenPollFailsProcIsAskedThatRound() throws Exception {
    Followed f = spawn();
    boolean[] pollWorks = {true};
    try (ProcessLiveness<Followed> liveness =
        new ProcessLiveness<>(
            proc,
            Followed::pid,
            Followed::startTicks,
            ProcessLiveness.MAX_PIDFDS,
            (fds, n, states) -> pollWorks[0] && Pidfds.poll(fds, n, states))) {
      liveness.refresh(List.of(f));
      assertThat(liveness.watchedByPidfd()).isEqualTo(1);
      assertThat(liveness.alive(f)).isTrue();
      pollWorks[0] = false;
      children.get(0).destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      liveness.refresh(List.of(f));
      assertThat(liveness.alive(f)).as("poll failed: /proc says it is gone").isFalse();
      pollWorks[0] = true;
      liveness.refresh(List.of(f));
      assertThat(liveness.alive(f)).isFalse();
    }
  }

  @Test
  void pidfdsAreCappedByADescriptorBudget() {
    assertThat(ProcessLiveness.maxPidfds())
        .isPositive()
        .isLessThanOrEqualTo(ProcessLiveness.MAX_PIDFDS)
        .isLessThanOrEqualTo(
            (int) Math.min(Integer.MAX_VALUE, ProcessLiveness.openFilesLimit() / 4));
  }

  @Test
  void aPidNowHeldByAnotherProcessIsNotAlive() {
    int self = (int) ProcessHandle.current().pid();
    long ticks = proc.startTicks(self);
    Followed earlier = new Followed(self, ticks - 1); // a ring of an earlier process with our pid
    Followed us = new Followed(self, ticks);
    try (ProcessLiveness<Followed> liveness = liveness(ProcessLiveness.MAX_PIDFDS)) {
      liveness.refresh(List.of(earlier, us));
      assertThat(liveness.alive(earlier)).isFalse();
      assertThat(liveness.alive(us)).isTrue();
      assertThat(liveness.watchedByPidfd()).isEqualTo(1);
    }
  }

  @Test
  void descriptorsAreGivenBackWhenProcessesLeaveAndAtClose() throws Exception {
    List<Followed> followed = new ArrayList<>();
    for (int i = 0; i < 10; i++) followed.add(spawn());
    long before = openPidfds();
    ProcessLiveness<Followed> liveness = liveness(ProcessLiveness.MAX_PIDFDS);
    liveness.refresh(followed);
    assertThat(openPidfds() - before).isEqualTo(10);
    liveness.refresh(followed.subList(0, 4));
    assertThat(openPidfds() - before).isEqualTo(4);
    assertThat(liveness.watchedByPidfd()).isEqualTo(4);
    liveness.close();
    assertThat(openPidfds()).isEqualTo(before);
  }

  @Test
  void beyondTheCapProcessesAreAskedThroughProc() throws Exception {
    List<Followed> followed = new ArrayList<>();
    for (int i = 0; i < 5; i++) followed.add(spawn());
    try (ProcessLiveness<Followed> liveness = liveness(2)) {
      liveness.refresh(followed);
      assertThat(liveness.watchedByPidfd()).isEqualTo(2);
      for (Followed f : followed) assertThat(liveness.alive(f)).isTrue();
      // Two leave: two of the three asked through /proc get the freed pidfds at the next refresh.
      followed.subList(0, 2).clear();
      liveness.refresh(followed);
      assertThat(liveness.watchedByPidfd()).isEqualTo(2);
      for (Followed f : followed) assertThat(liveness.alive(f)).isTrue();
      for (Process p : children) p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      liveness.refresh(followed);
      for (Followed f : followed) assertThat(liveness.alive(f)).isFalse();
    }
  }
}
