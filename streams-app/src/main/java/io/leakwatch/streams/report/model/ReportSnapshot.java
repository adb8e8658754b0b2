package io.leakwatch.streams.report.model;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a process held, before its stacks are named: the exit-reports store keeps this (as JSON, in
 * this field order), so that a stack definition that arrives after the exit still names its frames
 * when the report is asked for.
 *
 * @param omittedAllocators bytes and allocations ({@code [bytes, allocations]}) of the stacks left
 *     out, by allocator module, so the rendered allocators still count every block
 * @param omittedUnresolved the same by stack id, for stacks left out whose definition had not
 *     arrived
 */
public record ReportSnapshot(
    ProcessInfo process,
    Tracking tracking,
    Totals outstanding,
    List<StackRow> stacks,
    long stacksOmitted,
    Map<String, long[]> omittedAllocators,
    Map<String, long[]> omittedUnresolved,
    Counters counters) {

  public ReportSnapshot {
    process = process == null ? ProcessInfo.UNKNOWN : process;
    tracking = tracking == null ? Tracking.UNKNOWN : tracking;
    outstanding = outstanding == null ? new Totals(0, 0) : outstanding;
    stacks = stacks == null ? List.of() : List.copyOf(stacks);
    omittedAllocators =
        omittedAllocators == null ? Map.of() : new LinkedHashMap<>(omittedAllocators);
    omittedUnresolved =
        omittedUnresolved == null ? Map.of() : new LinkedHashMap<>(omittedUnresolved);
    counters = counters == null ? Counters.NONE : counters;
  }
}
