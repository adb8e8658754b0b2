package io.leakwatch.streams.report.model;

/**
 * How the numbers were taken, and what may be missing from them.
 *
 * @param mode "exact" or "sampled"
 * @param sampleBytes the mean sampling interval in bytes (0: exact)
 * @param seconds tracked time until {@code asOf}
 * @param lostEvents records the shim, ring or collector dropped (totals may be off until a resync)
 */
public record Tracking(
    String mode,
    long sampleBytes,
    String startedAt,
    double seconds,
    long lostEvents,
    long unknownFrees,
    long duplicateEvents,
    long replacedAllocations,
    long resyncs,
    long resyncedFrees,
    long resyncedAllocations,
    String asOf) {
  /** A report that did not say. */
  public static final Tracking UNKNOWN = new Tracking("", 0, null, 0, 0, 0, 0, 0, 0, 0, 0, null);

  public boolean sampled() {
    return "sampled".equals(mode);
  }
}
