package io.leakwatch.collector;

import io.leakwatch.collector.proc.Pidfds;
import io.leakwatch.collector.proc.ProcCounters;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.function.ToIntFunction;
import java.util.function.ToLongFunction;

/**
 * Which followed processes are still running, asked once a round for all of them: one poll over
 * their pidfds (see {@link Pidfds}) instead of a /proc/PID/stat read each. A process without a
 * pidfd (the kernel has none to give, or {@link #maxPidfds()} are held) is asked through /proc as
 * before. The two differ in one case: a process whose main thread exited while others run reads as
 * a zombie in /proc (gone) and as running through its pidfd (its threads still run; it is retired
 * when they end).
 *
 * <p>Identity: a pidfd is opened only for a process that /proc shows, after the open, with the
 * ring's start time; a pid reused before the open shows another start time, and that ring's process
 * is gone. Once a pidfd says a process exited it stays exited (processes do not come back), where a
 * /proc read that fails once must be asked again.
 *
 * <p>Not thread-safe: used on the round's thread, under the collector's lock.
 */
final class ProcessLiveness<P> implements AutoCloseable {
  /** Descriptors held at most, whatever the limit allows (see {@link #maxPidfds()}). */
  static final int MAX_PIDFDS = 4096;

  private static final int NO_PIDFD = -1;

  private final ProcCounters proc;
  private final ToIntFunction<P> pidOf;
  private final ToLongFunction<P> startTicksOf;
  private final int maxPidfds;
  private Map<P, Watch> watches = new IdentityHashMap<>();
  private int[] fds = new int[16];
  private Pidfds.State[] states = new Pidfds.State[16];
  private Watch[] watched = new Watch[16];
  private int held;

  /** Whether a watch may be left to /proc by the cap (the watches are then looked through). */
  private boolean mayHaveCapped;

  /** Whether the last poll answered; when it did not, pidfd-watched processes ask /proc. */
  private boolean polled = true;

  private static final class Watch {
    int fd;
    boolean exited;

    /** Left to /proc because {@link #maxPidfds} were held: given a pidfd once one is free. */
    boolean capped;

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
    this(proc, pidOf, startTicksOf, maxPidfds, Pidfds::poll);
  }

  /** How the pidfds are polled: {@link Pidfds#poll}, or a test's stand-in. */
  interface Poll {
    boolean poll(int[] fds, int count, Pidfds.State[] states);
  }

  private final Poll poll;

  ProcessLiveness(
      ProcCounters proc,
      ToIntFunction<P> pidOf,
      ToLongFunction<P> startTicksOf,
      int maxPidfds,
      Poll poll) {
    this.poll = poll;
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
    if (mayHaveCapped && held < maxPidfds) {
      mayHaveCapped = false;
      for (Map.Entry<P, Watch> e : watches.entrySet()) {
        if (!e.getValue().capped) continue;
        if (held >= maxPidfds) { // the rest wait for the next free pidfd
          mayHaveCapped = true;
          break;
        }
        e.setValue(watch(e.getKey())); // below the cap: never capped again
      }
    }
    int n = 0;
    for (Watch w : watches.values()) {
      if (w.fd == NO_PIDFD || w.exited) continue;
      if (n == fds.length) grow();
      fds[n] = w.fd;
      watched[n++] = w;
    }
    polled = poll.poll(fds, n, states);
    if (polled) {
      for (int i = 0; i < n; i++) {
        if (states[i] == Pidfds.State.EXITED) watched[i].exited = true;
        else if (states[i] == Pidfds.State.UNKNOWN) forget(watched[i]); // not ours now: ask /proc
      }
    }
    Arrays.fill(watched, 0, n, null);
  }

  /** Whether {@code p} is running (not exited, not a zombie, its pid not taken by another). */
  boolean alive(P p) {
    Watch w = watches.get(p);
    if (w != null && w.exited) return false;
    if (w == null || w.fd == NO_PIDFD || !polled)
      return proc.alive(pidOf.applyAsInt(p), startTicksOf.applyAsLong(p));
    return true;
  }

  /** Processes answered by a pidfd (tests, and the collector's log). */
  int watchedByPidfd() {
    return held;
  }

  private Watch watch(P p) {
    if (held >= maxPidfds) {
      Watch w = new Watch(NO_PIDFD);
      w.capped = true;
      mayHaveCapped = true;
      return w;
    }
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
    w.fd = NO_PIDFD; // a second release must not close a descriptor someone else now has
    held--;
  }

  /**
   * {@link #MAX_PIDFDS}, or a quarter of this process's descriptor limit when that is lower: each
   * followed ring already holds a descriptor for its mapping, and rings, Kafka's sockets and the
   * symbolizer's pipes must never run short for the sake of a cheaper exit check.
   */
  static int maxPidfds() {
    return (int) Math.min(MAX_PIDFDS, openFilesLimit() / 4);
  }

  /** The soft limit on open files, from /proc/self/limits; 1024 when it cannot be read. */
  static long openFilesLimit() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/limits"))) {
        if (!line.startsWith("Max open files")) continue;
        String[] f = line.substring("Max open files".length()).trim().split("\\s+");
        return f[0].equals("unlimited") ? Long.MAX_VALUE : Long.parseLong(f[0]);
      }
    } catch (IOException | RuntimeException e) {
      // unreadable: the conventional default below
    }
    return 1024;
  }

  private void grow() {
    int size = fds.length * 2;
    fds = Arrays.copyOf(fds, size);
    states = Arrays.copyOf(states, size);
    watched = Arrays.copyOf(watched, size);
  }

  @Override
  public void close() {
    for (Watch w : watches.values()) release(w);
    watches.clear();
  }
}
