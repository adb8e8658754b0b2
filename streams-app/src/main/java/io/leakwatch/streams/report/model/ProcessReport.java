package io.leakwatch.streams.report.model;

import java.util.List;

/**
 * The report of one process (DESIGN.md "Report JSON"; its JSON is this record through Jackson, in
 * this field order): what it holds, by allocator module and by call stack, named from the stack
 * definitions known when it was rendered.
 *
 * @param stacksOmitted stacks left out of {@code stacks} (beyond the bound), still counted in the
 *     totals and the allocators
 * @param stacksResolved every stack (kept or left out) was named; false while definitions are on
 *     their way
 */
public record ProcessReport(
    ProcessInfo process,
    Tracking tracking,
    Totals outstanding,
    List<AllocatorRow> allocators,
    List<StackRow> stacks,
    long stacksOmitted,
    Counters counters,
    boolean stacksResolved) {

  public ProcessReport {
    // A report read from elsewhere (a peer, a file) may lack parts: renderers get empty ones.
    process = process == null ? ProcessInfo.UNKNOWN : process;
    tracking = tracking == null ? Tracking.UNKNOWN : tracking;
    outstanding = outstanding == null ? new Totals(0, 0) : outstanding;
    counters = counters == null ? Counters.NONE : counters;
    allocators = allocators == null ? List.of() : List.copyOf(allocators);
    stacks = stacks == null ? List.of() : List.copyOf(stacks);
  }

  /** This report with only its first {@code keep} stacks; the others are counted as omitted. */
  public ProcessReport keepingStacks(int keep) {
    if (keep >= stacks.size()) return this;
    return new ProcessReport(
        process,
        tracking,
        outstanding,
        allocators,
        stacks.subList(0, keep),
        stacksOmitted + stacks.size() - keep,
        counters,
        stacksResolved);
  }
}
