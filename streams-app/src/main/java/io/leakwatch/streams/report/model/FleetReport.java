package io.leakwatch.streams.report.model;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/**
 * One program across the fleet (/api/fleet): what its running processes hold together, the same
 * leaking stack on 500 hosts as one row.
 *
 * @param hostList the hosts, sorted, at most a thousand listed
 * @param stacks largest first, at most fifty
 */
public record FleetReport(
    String program,
    long processes,
    int hosts,
    List<String> hostList,
    Totals outstanding,
    List<AllocatorRow> allocators,
    List<Stack> stacks,
    long stacksOmitted) {

  public FleetReport {
    hostList = hostList == null ? List.of() : List.copyOf(hostList);
    outstanding = outstanding == null ? new Totals(0, 0) : outstanding;
    allocators = allocators == null ? List.of() : List.copyOf(allocators);
    stacks = stacks == null ? List.of() : List.copyOf(stacks);
  }

  /**
   * One stack across the program's processes.
   *
   * @param maxScore the highest leak score any process gave it (absent when none had one yet)
   */
  public record Stack(
      String id,
      String allocator,
      String culprit,
      long bytes,
      long allocations,
      long processes,
      List<FrameRow> frames,
      @JsonInclude(JsonInclude.Include.NON_NULL) Double maxScore,
      int hosts,
      List<String> hostList) {

    public Stack {
      frames = frames == null ? List.of() : List.copyOf(frames);
      hostList = hostList == null ? List.of() : List.copyOf(hostList);
    }
  }
}
