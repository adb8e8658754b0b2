package io.leakwatch.streams.health;

import java.util.function.LongSupplier;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This instance's health as its operators meet it: liveness and readiness for the HTTP endpoints,
 * state changes and state-store restoration in the log (an instance restoring a large changelog
 * after a move is busy, not stuck, and says how far it is), and a one-line summary every minute.
 *
 * <p>Live: Kafka Streams has not stopped (rebalancing and restoring are alive). Ready: RUNNING, so
 * its stores answer report requests and its partitions are processed.
 */
public final class InstanceHealth implements StateRestoreListener, KafkaStreams.StateListener {
  static final long SUMMARY_INTERVAL_MS = 60_000;
  static final long RESTORE_PROGRESS_INTERVAL_MS = 10_000;
  private static final Logger log = LoggerFactory.getLogger(InstanceHealth.class);

  private final LongSupplier clock;
  private volatile KafkaStreams.State state = KafkaStreams.State.CREATED;
  private long restoreTotal, restored, restoreLoggedMs, summaryDueMs;
  private double lastProcessed, lastDropped;

  public InstanceHealth(LongSupplier clock) {
    this.clock = clock;
    this.summaryDueMs = clock.getAsLong() + SUMMARY_INTERVAL_MS;
  }

  public static boolean live(KafkaStreams.State s) {
    return s != KafkaStreams.State.ERROR
        && s != KafkaStreams.State.PENDING_ERROR
        && s != KafkaStreams.State.NOT_RUNNING
        && s != KafkaStreams.State.PENDING_SHUTDOWN;
  }

  private static boolean failed(KafkaStreams.State s) {
    return s == KafkaStreams.State.ERROR || s == KafkaStreams.State.PENDING_ERROR;
  }

  public static boolean ready(KafkaStreams.State s) {
    return s == KafkaStreams.State.RUNNING;
  }

  @Override
  public void onChange(KafkaStreams.State now, KafkaStreams.State before) {
    state = now;
    // a shutdown that was asked for (NOT_RUNNING after PENDING_SHUTDOWN) is news, not a warning
    if (failed(now)) log.warn("Kafka Streams {} -> {}", before, now);
    else log.info("Kafka Streams {} -> {}", before, now);
  }

  @Override
  public synchronized void onRestoreStart(
      TopicPartition partition, String store, long startOffset, long endOffset) {
    long n = Math.max(0, endOffset - startOffset);
    restoreTotal += n;
    log.info("restoring {} from {} ({} records)", store, partition, n);
  }

  @Override
  public synchronized void onBatchRestored(
      TopicPartition partition, String store, long batchEndOffset, long numRestored) {
    restored += numRestored;
    long now = clock.getAsLong();
    if (now - restoreLoggedMs >= RESTORE_PROGRESS_INTERVAL_MS) {
      restoreLoggedMs = now;
      log.info(
          "restoring: {} of {} records ({}%)",
          restored, restoreTotal, restoreTotal == 0 ? 100 : restored * 100 / restoreTotal);
    }
  }

  @Override
  public synchronized void onRestoreEnd(
      TopicPartition partition, String store, long totalRestored) {
    log.info("restored {} from {}: {} records", store, partition, totalRestored);
    if (restored >= restoreTotal) restored = restoreTotal = 0;
  }

  /**
   * The minute's share of a running total; a total that fell (a replaced thread's metrics start
   * again) counts from zero.
   */
  private static double since(double total, double before) {
    return total >= before ? total - before : total;
  }

  /** Records restored of those the restores under way started with ("0 of 0" when none is). */
  synchronized String restoreProgress() {
    return restored + " of " + restoreTotal;
  }

  /**
   * The summary line when it is due (and logged), else null. processedTotal and droppedTotal are
   * this instance's running totals; the line gives the minute's share.
   */
  public synchronized String maybeSummarize(
      int processes, int exited, double processedTotal, double droppedTotal) {
    long now = clock.getAsLong();
    if (now < summaryDueMs) return null;
    summaryDueMs = now + SUMMARY_INTERVAL_MS;
    String line =
        String.format(
            "health: %s, %s; %d processes (%d exited); last minute: %.0f records processed, %.0f dropped",
            state,
            ready(state) ? "ready" : live(state) ? "live, not ready" : "stopped",
            processes,
            exited,
            since(processedTotal, lastProcessed),
            since(droppedTotal, lastDropped));
    lastProcessed = processedTotal;
    lastDropped = droppedTotal;
    if (failed(state)) log.warn(line);
    else log.info(line);
    return line;
  }
}
