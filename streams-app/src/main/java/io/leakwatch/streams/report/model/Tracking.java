package io.leakwatch.streams.report.model;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * How the numbers were taken, and what may be missing from them.
 *
 * @param mode "exact" or "sampled"
 * @param sampleBytes the mean sampling interval in bytes (0: exact)
 * @param seconds tracked time until {@code asOf}
 * @param lostEvents records the shim, ring or collector dropped (totals may be off until a resync)
 * @param attached present (true) when {@code leakwatch attach} started the recording in a running
 *     process: blocks from before {@code startedAt} are not counted, and their frees are among
 *     {@code unknownFrees}
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
    String asOf,
    @JsonInclude(JsonInclude.Include.NON_DEFAULT) boolean attached) {
  /** A report that did not say. */
  public static final Tracking UNKNOWN =
      new Tracking("", 0, null, 0, 0, 0, 0, 0, 0, 0, 0, null, false);

  public boolean sampled() {
    return "sampled".equals(mode);
  }
}
