package io.leakwatch.collector;

import java.util.function.DoubleSupplier;
import java.util.function.IntSupplier;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether the collector is alive and ready, and a one-line health summary in its log every minute.
 *
 * <p>Live: the publishing loop finished a round (acknowledged or not) within {@link #STALLED_MS}; a
 * dead or wedged loop is what a restart fixes. Ready: the last round was acknowledged by Kafka, so
 * what the shims write now reaches the pipeline; a collector that cannot reach Kafka stays live
 * (its rings hold the records) but is not ready. A round with nothing to publish counts as
 * acknowledged when nothing is held for later: an idle collector does not contact Kafka, and says
 * so by staying ready (see {@link #roundSentNothing}).
 */
final class CollectorHealth {
  static final long STALLED_MS = 5 * 60_000;
  static final long SUMMARY_INTERVAL_MS = 60_000;
  private static final Logger log = LoggerFactory.getLogger(CollectorHealth.class);

  private final LongSupplier clock;
  private volatile long lastRoundEndMs;
  private volatile boolean lastRoundAcknowledged;
  private volatile String lastFailure = "";
  private long rounds, failedRounds, read, published;
  private long summaryDueMs;

  CollectorHealth(LongSupplier clock) {
    this.clock = clock;
    this.lastRoundEndMs = clock.getAsLong();
    this.summaryDueMs = lastRoundEndMs + SUMMARY_INTERVAL_MS;
  }

  synchronized void roundAcknowledged(long eventsRead, long eventsPublished) {
    rounds++;
    read += eventsRead;
    published += eventsPublished;
    lastRoundAcknowledged = true;
    lastRoundEndMs = clock.getAsLong();
  }

  /**
   * A round that sent Kafka nothing. An idle collector is ready; but after a failed round, events
   * held for their grace (read again after the rewind) have not reached Kafka yet, and a round that
   * merely waits for them says nothing about the pipeline: the verdict stays.
   */
  synchronized void roundSentNothing(boolean eventsHeld) {
    rounds++;
    if (!eventsHeld) lastRoundAcknowledged = true;
    lastRoundEndMs = clock.getAsLong();
  }

  synchronized void roundFailed(String cause) {
    rounds++;
    failedRounds++;
    lastRoundAcknowledged = false;
    lastFailure = cause;
    lastRoundEndMs = clock.getAsLong();
  }

  boolean live() {
    return clock.getAsLong() - lastRoundEndMs < STALLED_MS;
  }

  boolean ready() {
    return live() && lastRoundAcknowledged;
  }

  /** "ready", or why not, for the readiness endpoint's body. */
  String readiness() {
    if (!live())
      return "stalled: no round finished for " + (clock.getAsLong() - lastRoundEndMs) / 1000 + " s";
    if (!lastRoundAcknowledged)
      return lastFailure.isEmpty() ? "starting" : "not ready: " + lastFailure;
    return "ready";
  }

  /** Logs the summary line when it is due; returns it (or null) for tests. */
  synchronized String maybeSummarize(IntSupplier ringsFollowed, DoubleSupplier fullestRing) {
    long now = clock.getAsLong();
    if (now < summaryDueMs)
      return null; // every round asks: the ring figures are gathered only when due
    summaryDueMs = now + SUMMARY_INTERVAL_MS;
    String line =
        String.format(
            "health: %s; following %d rings, fullest %.0f%%; last minute: %d rounds (%d failed), %d events read, %d published",
            readiness(),
            ringsFollowed.getAsInt(),
            fullestRing.getAsDouble() * 100,
            rounds,
            failedRounds,
            read,
            published);
    rounds = failedRounds = read = published = 0;
    log.info(line);
    return line;
  }
}
