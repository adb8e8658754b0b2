package io.leakwatch.streams.report;

import io.leakwatch.schemas.CounterSample;
import io.leakwatch.streams.report.model.ProcessReport;
import io.leakwatch.streams.report.model.ProcessSummary;
import io.leakwatch.streams.report.model.StackRow;
import io.leakwatch.streams.score.LeakScore;
import io.leakwatch.streams.stores.Keys;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * Recent history of this instance's processes, for the pages: a point every sample (outstanding
 * native bytes, managed heap, private bytes) for sparklines and growth, and every few samples a
 * snapshot of each process's top stacks, for the diff between two points in time. Kept in memory,
 * bounded (points and snapshots per process, processes in all); an instance restarted starts its
 * history again, which is why the long view lives in Prometheus.
 */
public final class History {
  public static final int MAX_POINTS = 360;
  public static final int MAX_SNAPSHOTS = 60;
  public static final int STACKS_PER_SNAPSHOT = 100;
  static final int MAX_PROCESSES = 5_000;

  /** One sample of a process. managedHeap and privateBytes are -1 when unknown. */
  public record Point(long atMs, long outstandingBytes, long managedHeapBytes, long privateBytes) {}

  /** A stack's outstanding bytes and allocations at one time, with its culprit for display. */
  public record StackAt(
      long bytes, long allocations, String culprit, String allocator, double score) {}

  /** Every process's top stacks at one time. */
  public record Snapshot(long atMs, Map<String, StackAt> stacks) {}

  /** Every this many points, a snapshot of the top stacks (for the diff). */
  public static final int POINTS_PER_SNAPSHOT = 6;

  /**
   * What the pages' time spans really are on this instance, so a page can say so: a local session
   * keeps minutes, a fleet's instance an hour.
   *
   * @param trendWindowMs one window of the leak score (it looks at {@link LeakScore#WINDOWS})
   * @param snapshotIntervalMs how often the top stacks are snapshotted
   * @param keptMs the span the kept snapshots cover, at most
   */
  public record Windows(long trendWindowMs, long snapshotIntervalMs, long keptMs) {
    public static final Windows FLEET_DEFAULTS = of(10_000, 300_000);

    public static Windows of(long pointIntervalMs, long trendWindowMs) {
      long snap = pointIntervalMs * POINTS_PER_SNAPSHOT;
      return new Windows(trendWindowMs, snap, snap * MAX_SNAPSHOTS);
    }

    /**
     * The diff spans worth a link: 5, 15 and 60 minutes where kept, else what is kept (at least one
     * minute).
     */
    public List<Integer> diffMinutes() {
      List<Integer> m = new ArrayList<>();
      for (int span : new int[] {5, 15, 60}) if (span * 60_000L <= keptMs) m.add(span);
      int kept = (int) Math.max(1, keptMs / 60_000);
      if (kept < 60 && !m.contains(kept)) m.add(kept);
      return m;
    }
  }

  private final Windows windows;

  public History(Windows windows) {
    this.windows = windows;
  }

  public History() {
    this(Windows.FLEET_DEFAULTS);
  }

  public Windows windows() {
    return windows;
  }

  private final Map<String, Deque<Point>> points = new LinkedHashMap<>(16, 0.75f, true);
  private final Map<String, Deque<Snapshot>> snapshots = new HashMap<>();

  /**
   * Records one point per process of {@code processes} (as {@link ReportService#processes} lists
   * them).
   */
  public synchronized void record(
      long nowMs, List<ProcessSummary> processes, Function<String, CounterSample> counters) {
    for (ProcessSummary p : processes) {
      if (p.exited()) continue; // an exited process's line ends where it exited
      String pk = Keys.process(p.host(), p.pid());
      CounterSample c = counters.apply(pk);
      Point pt =
          new Point(
              nowMs,
              p.outstandingBytes(),
              c == null || c.getManagedHeapBytes() == null ? -1 : c.getManagedHeapBytes(),
              c == null ? -1 : c.getPrivateBytes());
      Deque<Point> d = points.computeIfAbsent(pk, k -> new ArrayDeque<>());
      d.addLast(pt);
      while (d.size() > MAX_POINTS) d.removeFirst();
    }
    while (points.size() > MAX_PROCESSES) {
      String eldest = points.keySet().iterator().next();
      points.remove(eldest);
      snapshots.remove(eldest);
    }
  }

  /** Records the top stacks of one process's report. */
  public synchronized void snapshot(long nowMs, String pk, ProcessReport report) {
    Map<String, StackAt> top = new LinkedHashMap<>();
    for (StackRow s : report.stacks()) {
      if (top.size() == STACKS_PER_SNAPSHOT) break;
      top.put(
          s.id(),
          new StackAt(
              s.bytes(),
              s.allocations(),
              s.culprit(),
              s.allocator(),
              s.score() == null ? Double.NaN : s.score()));
    }
    Deque<Snapshot> d = snapshots.computeIfAbsent(pk, k -> new ArrayDeque<>());
    d.addLast(new Snapshot(nowMs, top));
    while (d.size() > MAX_SNAPSHOTS) d.removeFirst();
  }

  public synchronized List<Point> points(String pk) {
    Deque<Point> d = points.get(pk);
    return d == null ? List.of() : new ArrayList<>(d);
  }

  /** The latest snapshot of a process, if any. */
  public synchronized Optional<Snapshot> latest(String pk) {
    Deque<Snapshot> d = snapshots.get(pk);
    return d == null || d.isEmpty() ? Optional.empty() : Optional.of(d.peekLast());
  }

  public synchronized List<Snapshot> snapshots(String pk) {
    Deque<Snapshot> d = snapshots.get(pk);
    return d == null ? List.of() : new ArrayList<>(d);
  }

  /** The latest snapshot taken at or before {@code atMs}, else the oldest one. */
  public synchronized Optional<Snapshot> snapshotAt(String pk, long atMs) {
    Deque<Snapshot> d = snapshots.get(pk);
    if (d == null || d.isEmpty()) return Optional.empty();
    Snapshot best = d.peekFirst();
    for (Snapshot s : d) if (s.atMs() <= atMs) best = s;
    return Optional.of(best);
  }

  /**
   * Growth of outstanding bytes in bytes per hour: the least-squares slope over the points, or 0
   * with fewer than three points.
   */
  public static double growthPerHour(List<Point> pts) {
    if (pts.size() < 3) return 0;
    double t0 = pts.get(0).atMs();
    double n = pts.size(), sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (Point p : pts) {
      double x = (p.atMs() - t0) / 3_600_000.0;
      double y = p.outstandingBytes();
      sx += x;
      sy += y;
      sxx += x * x;
      sxy += x * y;
    }
    double den = n * sxx - sx * sx;
    return den == 0 ? 0 : (n * sxy - sx * sy) / den;
  }
}
