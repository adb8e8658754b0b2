package io.leakwatch.streams.topology;

/**
 * The time up to which a task has heard its input, against which a process's silence is judged.
 *
 * <p>Why not the wall clock: a task can be minutes behind its partitions (a backlog such as a
 * 100,000-stack process's definitions, a restore after a rebalance or an outage). Judged by the
 * wall clock, every process whose records wait unread in that backlog looks silent, and a staleness
 * check retires live processes as gone (FleetNetnsTest, CI of e60a1ec: both of app3's services
 * retired while their counters waited behind app2's backlog). Judged by what the task has read, a
 * process is silent only when the others on its partitions have moved on without it.
 *
 * <p>The clock is the task's stream time (the newest record time it has read), capped by the wall
 * clock (a collector whose clock runs ahead cannot move it into the future). While it stands still
 * it moves on with the wall clock, and once it has stood still for {@code idleAfterMs} the task has
 * read all there is (a task behind its input reads something every few seconds): the clock is the
 * wall clock's. So a partition where nothing arrives (every host on it gone) still ages its
 * processes, also after a restart, which starts the clock from what the store last heard. Record
 * times are the collectors' send times; a host whose clock runs behind by more than the staleness
 * limit is retired early, as on any stream-time rule.
 *
 * <p>Updated at punctuations only: the wall time at which the stream time moved is known to one
 * punctuation's period, so a retirement may come up to one period late, never early.
 */
final class HeardClock {
  private final long idleAfterMs;
  private long heardMs;
  private long movedAtWallMs;

  /**
   * A clock that has heard up to {@code heardMs} (what a restored store last heard, or 0) as of the
   * wall time {@code wallMs}, and takes a stream time that stood still {@code idleAfterMs} for a
   * task that has read everything.
   */
  HeardClock(long heardMs, long wallMs, long idleAfterMs) {
    this.idleAfterMs = idleAfterMs;
    this.heardMs = Math.min(heardMs, wallMs);
    this.movedAtWallMs = wallMs;
  }

  /**
   * When a record was heard: its timestamp, but never later than the wall clock, and the wall clock
   * for a record without a timestamp.
   */
  static long heardAt(long recordTimestampMs, long wallMs) {
    return recordTimestampMs > 0 ? Math.min(recordTimestampMs, wallMs) : wallMs;
  }

  /**
   * Now, in heard time: {@code streamTimeMs} (the task's, negative when it has read nothing) if it
   * moved since the last call; else the last heard time plus the wall time since it last moved; the
   * wall clock once it stood still {@code idleAfterMs}.
   */
  long now(long streamTimeMs, long wallMs) {
    long heard = Math.min(streamTimeMs, wallMs);
    if (heard > heardMs) {
      heardMs = heard;
      movedAtWallMs = wallMs;
    }
    long still = Math.max(0, wallMs - movedAtWallMs);
    if (still >= idleAfterMs) return wallMs;
    return Math.min(wallMs, heardMs + still);
  }
}
