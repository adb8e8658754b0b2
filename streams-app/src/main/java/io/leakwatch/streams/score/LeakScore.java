package io.leakwatch.streams.score;

import io.leakwatch.streams.state.StackTrend;
import java.util.ArrayList;
import java.util.List;

/**
 * DebugDiag's leak probability, for a stack: how likely is it that what it holds is a leak rather
 * than a cache? Two things tell them apart, and the score (0 to 1) is their product:
 *
 * <ul>
 *   <li><b>sustained growth</b>: the share of recent windows in which the stack's outstanding bytes
 *       grew. A leak grows in every window; a cache grows while it fills and then plateaus;
 *   <li><b>carried by old allocations</b>: the share of what it holds now that was allocated in the
 *       older half of the observed period, doubled and capped at 1. A leak keeps its oldest blocks
 *       (uniform ages give one half, so 1); a cache that turns over holds only young ones.
 * </ul>
 *
 * The trend is kept per stack in a store, one value per window (stream time), {@link #WINDOWS}
 * windows deep; a stack needs {@link #MIN_WINDOWS} completed windows before it gets a score.
 */
public final class LeakScore {
  public static final int WINDOWS = 12;
  public static final int MIN_WINDOWS = 3;

  /** Growth below this share of the stack's size is noise (sampled estimates wobble). */
  static final double NOISE = 0.01;

  private LeakScore() {}

  /**
   * The trend after {@code delta} bytes at stream time {@code nowMs}: completed windows are closed
   * first.
   */
  public static StackTrend roll(StackTrend t, double delta, long nowMs, long windowMs) {
    StackTrend r =
        t == null
            ? new StackTrend(0.0, nowMs, nowMs, new ArrayList<>())
            : closeWindows(t, nowMs, windowMs);
    r.setBytes(Math.max(0, r.getBytes() + delta));
    return r;
  }

  /**
   * Closes every window that ended by {@code nowMs}, with the bytes held at its end (flat when
   * nothing happened).
   */
  public static StackTrend closeWindows(StackTrend t, long nowMs, long windowMs) {
    List<Double> samples = new ArrayList<>(t.getSamples());
    long start = t.getWindowStartMs();
    long first = t.getFirstWindowMs();
    if (nowMs - start >= windowMs) {
      long closed = (nowMs - start) / windowMs;
      // After a long gap only the last WINDOWS matter: every one of them ended with the same bytes.
      for (long i = Math.max(0, closed - WINDOWS); i < closed; i++) samples.add(t.getBytes());
      start += closed * windowMs;
      while (samples.size() > WINDOWS) {
        samples.remove(0);
      }
      first = start - (long) samples.size() * windowMs;
    }
    return new StackTrend(t.getBytes(), start, first, samples);
  }

  /**
   * Sustained growth: the share of consecutive windows (and the window in progress) in which bytes
   * grew.
   */
  public static double sustained(StackTrend t) {
    List<Double> v = new ArrayList<>(t.getSamples());
    v.add(t.getBytes());
    if (v.size() < MIN_WINDOWS + 1) return Double.NaN;
    double max = 0;
    for (double x : v) max = Math.max(max, x);
    if (max <= 0 || v.get(v.size() - 1) <= v.get(0)) return 0;
    int grew = 0;
    for (int i = 1; i < v.size(); i++) if (v.get(i) - v.get(i - 1) > NOISE * max) grew++;
    return grew / (double) (v.size() - 1);
  }

  /**
   * @param oldShare share of the stack's live bytes allocated before the midpoint of the trend's
   *     span
   * @return the score, or NaN when the trend is too short to tell
   */
  public static double score(StackTrend t, double oldShare) {
    double s = sustained(t);
    if (Double.isNaN(s)) return Double.NaN;
    return s * Math.min(1.0, 2 * Math.max(0, oldShare));
  }
}
