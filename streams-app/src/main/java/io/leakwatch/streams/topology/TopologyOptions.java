package io.leakwatch.streams.topology;

import io.leakwatch.streams.stores.StackNames;
import java.util.concurrent.atomic.LongAdder;

/**
 * Everything the topology is built from; {@link #defaults} gives what a deployment uses unless told
 * otherwise, and each {@code with...} returns a copy with one setting changed.
 *
 * @param storeKind which store implementation backs the per-process state
 * @param malformedStacks counts unreadable records on the stacks topic. They cannot go through
 *     Kafka Streams' deserialization handler: a global store's thread cannot dead-letter (Kafka
 *     Streams 4.4 fails with a ClassCastException and stops the instance), so they are read
 *     leniently, skipped here and counted.
 * @param trendWindowMs length of one window of the stacks' trends (the leak score looks at {@link
 *     io.leakwatch.streams.score.LeakScore#WINDOWS} of them)
 * @param exitRetentionMs how long an exited process's state and exit report are kept; then both are
 *     deleted and a tombstone compacts its record out of the exit-reports topic
 * @param staleAfterMs a live process from which neither events nor counter samples arrived for this
 *     long is retired as gone (its host vanished, its collector never came back): not clean, with
 *     its exit report
 * @param exitReports makes the exit report of a retired process (the report package's)
 * @param stackNames told of every change to a stack's definition, so its readers (scrapes, live
 *     reports) may keep the names they read
 */
public record TopologyOptions(
    LeakTopology.StoreKind storeKind,
    LongAdder malformedStacks,
    long trendWindowMs,
    long exitRetentionMs,
    long staleAfterMs,
    ExitReportMaker exitReports,
    StackNames stackNames) {
  /** Windows of the leak score's trend: 12 of 5 minutes, the last hour. */
  public static final long DEFAULT_TREND_WINDOW_MS = 300_000;

  /**
   * A live process silent (no events, no counter samples) for this long is retired as gone: a day.
   */
  public static final long DEFAULT_STALE_AFTER_MS = 24L * 3600 * 1000;

  /** How long exited processes (and their exit reports) are kept: a week. */
  public static final long DEFAULT_EXIT_RETENTION_MS = 7L * 24 * 3600 * 1000;

  public static TopologyOptions defaults(ExitReportMaker exitReports) {
    return new TopologyOptions(
        LeakTopology.StoreKind.ROCKSDB,
        new LongAdder(),
        DEFAULT_TREND_WINDOW_MS,
        DEFAULT_EXIT_RETENTION_MS,
        DEFAULT_STALE_AFTER_MS,
        exitReports,
        new StackNames());
  }

  public TopologyOptions withStoreKind(LeakTopology.StoreKind v) {
    return new TopologyOptions(
        v, malformedStacks, trendWindowMs, exitRetentionMs, staleAfterMs, exitReports, stackNames);
  }

  public TopologyOptions withMalformedStacks(LongAdder v) {
    return new TopologyOptions(
        storeKind, v, trendWindowMs, exitRetentionMs, staleAfterMs, exitReports, stackNames);
  }

  public TopologyOptions withTrendWindowMs(long v) {
    return new TopologyOptions(
        storeKind, malformedStacks, v, exitRetentionMs, staleAfterMs, exitReports, stackNames);
  }

  public TopologyOptions withExitRetentionMs(long v) {
    return new TopologyOptions(
        storeKind, malformedStacks, trendWindowMs, v, staleAfterMs, exitReports, stackNames);
  }

  public TopologyOptions withStaleAfterMs(long v) {
    return new TopologyOptions(
        storeKind, malformedStacks, trendWindowMs, exitRetentionMs, v, exitReports, stackNames);
  }

  public TopologyOptions withStackNames(StackNames v) {
    return new TopologyOptions(
        storeKind, malformedStacks, trendWindowMs, exitRetentionMs, staleAfterMs, exitReports, v);
  }
}
