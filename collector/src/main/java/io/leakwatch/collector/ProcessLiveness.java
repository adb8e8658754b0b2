package io.leakwatch.collector;

import io.leakwatch.collector.proc.Pidfds;
import io.leakwatch.collector.proc.ProcCounters;
import java.util.Arrays;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.function.ToIntFunction;
import java.util.function.ToLongFunction;

/**
 * Which followed processes are still running, asked once a round for all of them: one poll over
 * their pidfds (see {@link Pidfds}) instead of a /proc/PID/stat read each. A process without a
 * pidfd (the kernel has none to give, or {@link #MAX_PIDFDS} are held) is asked through /proc as
 * before, so the answers are the same either way.
 *
 * <p>Identity: a pidfd is opened only for a process that /proc shows, after the open, with the
 * ring's start time; a pid reused before the open shows another start time, and that ring's process
 * is gone. Once a pidfd says a process exited it stays exited (processes do not come back), where a
 * /proc read that fails once must be asked again.
 *
 * <p>Not thread-safe: used on the round's thread, under the collector's lock.
 */
final class ProcessLiveness<P> implements AutoCloseable {
  /** Descriptors held at most: the collector's own files (rings, sockets) must never run short. */
  static final int MAX_PIDFDS = 4096;

  private static final int NO_PIDFD = -1;

  private final ProcCounters proc;
  private final ToIntFunction<P> pidOf;
  private final ToLongFunction<P> startTicksOf;
  private final int maxPidfds;
  private Map<P, Watch> watches = new IdentityHashMap<>();
  private int[] fds = new int[16];
  private Pidfds.State[] states = new Pidfds.State[16];
  private Watch[] polled = new Watch[16];
  private int held;

  private static final class Watch {
    int fd;
    boolean exited;

    Watch(int fd) {
      this.fd = fd;
    }
  }

  /**
   * Answers for processes {@code P} (compared by identity: one per ring), whose pid and start time
   * (clock ticks since boot, as /proc/PID/stat field 22; 0 when unknown) the functions give.
   */
  ProcessLiveness(
      ProcCounters proc, ToIntFunction<P> pidOf, ToLongFunction<P> startTicksOf, int maxPidfds) {
    this.proc = proc;
    this.pidOf = pidOf;
    this.startTicksOf = startTicksOf;
    this.maxPidfds = maxPidfds;
  }

  /**
   * Brings the watches up to the followed processes (new ones get a pidfd, retired ones give theirs
   * back) and polls them once. Call at the start of a round's retirement, then {@link #alive}.
   */
  void refresh(Collection<P> followed) {
    Map<P, Watch> current = new IdentityHashMap<>(followed.size() * 2);
    for (P tp : followed) {
      Watch w = watches.remove(tp);
      current.put(tp, w != null ? w : watch(tp));
    }
    for (Watch gone : watches.values()) release(gone);
    watches = current;
    int n = 0;
    for (Watch w : watches.values()) {
      if (w.fd == NO_PIDFD || w.exited) continue;
      if (n == fds.length) grow();
      fds[n] = w.fd;
      polled[n++] = w;
    }
    if (!Pidfds.poll(
        fds, n, states)) { // this round's answers are last round's; /proc decides nothing worse
      Arrays.fill(polled, 0, n, null);
      return;
    }
    for (int i = 0; i < n; i++) {
      if (states[i] == Pidfds.State.EXITED) polled[i].exited = true;
      else if (states[i] == Pidfds.State.UNKNOWN) forget(polled[i]); // not ours now: ask /proc
      polled[i] = null;
    }
  }

  /** Whether {@code p} is running (not exited, not a zombie, its pid not taken by another). */
  boolean alive(P p) {
    Watch w = watches.get(p);
    if (w == null || w.fd == NO_PIDFD)
      return proc.alive(pidOf.applyAsInt(p), startTicksOf.applyAsLong(p));
    return !w.exited;
  }

  /** Processes answered by a pidfd (tests, and the collector's log). */
  int watchedByPidfd() {
    return held;
  }

  private Watch watch(P p) {
    if (held >= maxPidfds) return new Watch(NO_PIDFD);
    int pid = pidOf.applyAsInt(p);
    int fd = Pidfds.open(pid);
    if (fd < 0) return new Watch(NO_PIDFD);
    // After the open: the pidfd is of whatever process had the pid then. It is this ring's only
    // when that process still shows the ring's start time; otherwise ask /proc, which answers gone.
    if (!proc.alive(pid, startTicksOf.applyAsLong(p))) {
      Pidfds.close(fd);
      return new Watch(NO_PIDFD);
    }
    held++;
    return new Watch(fd);
  }

  /**
   * A descriptor closed behind our back (nothing here does): its process is asked through /proc.
   */
  private void forget(Watch w) {
    w.fd = NO_PIDFD;
    held--;
  }

  private void release(Watch w) {
    if (w.fd == NO_PIDFD) return;
    Pidfds.close(w.fd);
    held--;
  }

  private void grow() {
    int size = fds.length * 2;
    fds = Arrays.copyOf(fds, size);
    states = Arrays.copyOf(states, size);
    polled = Arrays.copyOf(polled, size);
  }

  @Override
  public void close() {
    for (Watch w : watches.values()) release(w);
    watches.clear();
  }
}
