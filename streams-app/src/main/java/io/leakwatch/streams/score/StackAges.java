package io.leakwatch.streams.score;

import io.leakwatch.streams.state.LiveAllocation;
import io.leakwatch.streams.state.StackTrend;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import org.apache.kafka.streams.KeyValue;

/**
 * Ages of a process's live allocations per stack: the oldest, and the bytes allocated before a
 * given time.
 */
public final class StackAges {
  private final Map<Long, Long> oldestNs = new HashMap<>();
  private final Map<Long, double[]> bytes =
      new HashMap<>(); // total, born before the stack's midpoint
  private final Map<Long, Long> midpointNs;

  /**
   * @param midpointNs per stack, the time before which a live allocation counts as old (absent:
   *     none is old)
   */
  public StackAges(Map<Long, Long> midpointNs) {
    this.midpointNs = midpointNs;
  }

  /**
   * Reads a process's trends (closing their windows up to {@code nowMs}) into {@code trendsOut},
   * then its live allocations, each counted old when allocated before the midpoint of its stack's
   * trend.
   */
  public static StackAges scan(
      Iterator<KeyValue<String, StackTrend>> trends,
      Iterator<KeyValue<String, LiveAllocation>> live,
      long nowMs,
      long windowMs,
      Map<Long, StackTrend> trendsOut) {
    Map<Long, Long> midpoints = new HashMap<>();
    while (trends.hasNext()) {
      var kv = trends.next();
      String key = kv.key;
      long stack = Long.parseUnsignedLong(key.substring(key.lastIndexOf('/') + 1), 16);
      var t =
          LeakScore.closeWindows(kv.value, Math.max(nowMs, kv.value.getWindowStartMs()), windowMs);
      trendsOut.put(stack, t);
      midpoints.put(
          stack, (t.getFirstWindowMs() + Math.max(nowMs, t.getWindowStartMs())) / 2 * 1_000_000L);
    }
    StackAges ages = new StackAges(midpoints);
    while (live.hasNext()) ages.add(live.next().value);
    return ages;
  }

  public void add(LiveAllocation a) {
    oldestNs.merge(a.getStackId(), a.getTimestampNs(), Math::min);
    double[] b = bytes.computeIfAbsent(a.getStackId(), k -> new double[2]);
    b[0] += a.getWeight();
    Long mid = midpointNs.get(a.getStackId());
    if (mid != null && a.getTimestampNs() > 0 && a.getTimestampNs() < mid) b[1] += a.getWeight();
  }

  public Map<Long, Long> oldestNs() {
    return oldestNs;
  }

  /** Share of the stack's live bytes allocated before its midpoint (0 when it holds nothing). */
  public double oldShare(long stackId) {
    double[] b = bytes.get(stackId);
    return b == null || b[0] <= 0 ? 0 : b[1] / b[0];
  }
}
