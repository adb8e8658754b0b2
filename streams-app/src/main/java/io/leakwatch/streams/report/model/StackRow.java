package io.leakwatch.streams.report.model;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/**
 * What one call stack holds. A snapshot's stack has no names yet (allocator, culprit and frames are
 * null and absent from its JSON); rendering names it.
 *
 * @param kind "heap" or "mmap"
 * @param samples recorded allocations behind the estimate
 * @param score the leak score, 0 to 1, once the stack has enough history (absent before)
 * @param sizes largest bytes first
 */
public record StackRow(
    String id,
    String kind,
    long bytes,
    long allocations,
    long samples,
    double oldestAgeSeconds,
    @JsonInclude(JsonInclude.Include.NON_NULL) Double score,
    List<SizeRow> sizes,
    @JsonInclude(JsonInclude.Include.NON_NULL) String allocator,
    @JsonInclude(JsonInclude.Include.NON_NULL) String culprit,
    @JsonInclude(JsonInclude.Include.NON_NULL) List<FrameRow> frames) {

  public StackRow {
    sizes = sizes == null ? List.of() : List.copyOf(sizes);
  }

  /** The same stack, named. */
  public StackRow named(String allocator, String culprit, List<FrameRow> frames) {
    return new StackRow(
        id,
        kind,
        bytes,
        allocations,
        samples,
        oldestAgeSeconds,
        score,
        sizes,
        allocator,
        culprit,
        List.copyOf(frames));
  }
}
