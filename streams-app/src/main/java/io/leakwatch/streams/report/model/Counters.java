package io.leakwatch.streams.report.model;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.Map;

/**
 * perfmon's counters for the process, the latest sample: private, virtual and resident bytes are
 * null (and present) when no sample arrived; the managed heap is null for a process that is not a
 * JVM; the rest is absent when unknown.
 *
 * @param heapFragmentationRatio free share of what glibc's heap holds
 * @param regions committed and reserved bytes by region kind (heap, anonymous, image, stack,
 *     shared)
 */
public record Counters(
    Long privateBytes,
    Long virtualBytes,
    Long residentBytes,
    Long managedHeapBytes,
    @JsonInclude(JsonInclude.Include.NON_NULL) Integer openFds,
    @JsonInclude(JsonInclude.Include.NON_NULL) Long heapArenaBytes,
    @JsonInclude(JsonInclude.Include.NON_NULL) Long heapInUseBytes,
    @JsonInclude(JsonInclude.Include.NON_NULL) Long heapFreeBytes,
    @JsonInclude(JsonInclude.Include.NON_NULL) Double heapFragmentationRatio,
    @JsonInclude(JsonInclude.Include.NON_NULL) String sampledAt,
    @JsonInclude(JsonInclude.Include.NON_NULL) String processStartedAt,
    @JsonInclude(JsonInclude.Include.NON_NULL) Map<String, Region> regions) {

  /** No sample yet. */
  public static final Counters NONE =
      new Counters(null, null, null, null, null, null, null, null, null, null, null, null);

  /** Bytes of one kind of region: committed (Rss + Swap) and reserved (address space). */
  public record Region(
      @JsonInclude(JsonInclude.Include.NON_NULL) Long committedBytes,
      @JsonInclude(JsonInclude.Include.NON_NULL) Long reservedBytes) {}
}
