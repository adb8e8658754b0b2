package io.leakwatch.streams.topology;

/**
 * The time up to which a task has read its input, against which a process's silence is judged.
 *
 * <p>Why not the wall clock: a task can be minutes behind its partitions (a backlog such as a
 * 100,000-stack process's records, a restore after a rebalance, an instance back from an outage).
 * Judged by the wall clock, every process whose records wait unread in that backlog looks silent,
 * and the staleness check retires live processes as gone (CI of e60a1ec: FleetNetnsTest's app3,
 * both of its services retired while their counter samples waited behind app2's backlog). Judged by
 * what the task has read, a process is silent only when the task read on without hearing from it.
 *
 * <p>Both ends are the task's stream time (the newest record time it has read), capped by the wall
 * clock. A process is stamped with it when one of its records is read ({@link #stamp}), so a host
 * whose clock runs behind is not taken for silent: only the newest clocks move stream time, and a
 * host whose clock runs ahead moves it by at most the task's lag (the cap).
 *
 * <p>"Now" ({@link #now}) is that stream time; while it stands still it moves on with the wall
 * clock (a partition where nothing arrives, every host on it gone, still ages its processes), and
 * once it has stood still for {@code idleAfterMs} the task has read all there is and "now" is the
 * wall clock. That last rule is for restarts: a restart starts the clock from what the store last
 * heard, which for a partition of gone hosts is their last word, so without it restarts more
 * frequent than the staleness limit would keep them from ever retiring. It is set long (half the
 * limit), as a task behind its input that reads nothing for that long is not a case to plan for.
 *
 * <p>Updated at punctuations only: when the stream time moved is known to one punctuation's period,
 * so a retirement may come up to one period late, never early.
 */
final class HeardClock {
  private final long idleAfterMs;
  private long heardMs;
  private long movedAtWallMs = -1;

  /**
   * A clock that has heard up to {@code heardMs} (what a restored store last heard, or a negative
   * value for nothing), started at its first {@link #now}, that takes a stream time standing still
   * {@code idleAfterMs} for a task that has read everything.
   */
  HeardClock(long heardMs, long idleAfterMs) {
    this.heardMs = heardMs;
    this.idleAfterMs = idleAfterMs;
  }

  /**
   * A process's stamp when one of its records is read: the task's stream time then (which includes
   * that record), capped by the wall clock; the wall clock while the task has no stream time.
   */
  static long stamp(long streamTimeMs, long wallMs) {
    return streamTimeMs >= 0 ? Math.min(streamTimeMs, wallMs) : wallMs;
  }

  /**
   * Now, in read time: {@code streamTimeMs} (the task's, negative when it has read nothing) if it
   * moved since the last call; else the last time read plus the wall time since it last moved; the
   * wall clock once it stood still {@code idleAfterMs}.
   */
  long now(long streamTimeMs, long wallMs) {
    if (movedAtWallMs < 0) {
      heardMs = Math.min(heardMs, wallMs);
      movedAtWallMs = wallMs;
    }
    long heard = Math.min(streamTimeMs, wallMs);
    if (heard > heardMs) {
      heardMs = heard;
      movedAtWallMs = wallMs;
    }
    long still = Math.max(0, wallMs - movedAtWallMs);
    if (still >= idleAfterMs) return wallMs;
    return Math.min(wallMs, Math.max(heardMs, 0) + still);
  }
}
