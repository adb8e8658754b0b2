package io.leakwatch.streams.report;

import io.leakwatch.streams.report.model.AllocatorRow;
import io.leakwatch.streams.report.model.FleetReport;
import io.leakwatch.streams.report.model.FrameRow;
import io.leakwatch.streams.report.model.ProcessReport;
import io.leakwatch.streams.report.model.StackRow;
import io.leakwatch.streams.report.model.Totals;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * One program across the fleet: the same leaking stack on 500 hosts is one row. Stack ids are
 * stable across hosts (hashes of symbolized frames), so rows merge by id. Roll-ups merge too: each
 * instance rolls up the processes it owns, and the instance asked merges their answers.
 */
public final class FleetRollup {
  static final int MAX_STACKS = 50;
  static final int MAX_HOSTS_LISTED = 1000;

  /** A stack's sums while they are merged. */
  private static final class StackSum {
    final String id, allocator, culprit;
    final List<FrameRow> frames;
    long bytes, allocations, processes;
    Double maxScore;
    final TreeSet<String> hosts = new TreeSet<>();

    StackSum(String id, String allocator, String culprit, List<FrameRow> frames) {
      this.id = id;
      this.allocator = allocator;
      this.culprit = culprit;
      this.frames = frames;
    }

    void add(long bytes, long allocations, long processes, Double score, List<String> hosts) {
      this.bytes += bytes;
      this.allocations += allocations;
      this.processes += processes;
      if (score != null) maxScore = maxScore == null ? score : Math.max(maxScore, score);
      this.hosts.addAll(hosts);
    }
  }

  private final String program;
  private final TreeSet<String> hosts = new TreeSet<>();
  private long processes;
  private long bytes;
  private long allocations;
  private final Map<String, long[]> allocators = new LinkedHashMap<>();
  private final Map<String, StackSum> stacks = new LinkedHashMap<>();

  public FleetRollup(String program) {
    this.program = program;
  }

  /** Adds one process's report. */
  public FleetRollup addReport(ProcessReport r) {
    String host = r.process().host();
    hosts.add(host);
    addTotals(r.outstanding(), 1, r.allocators());
    for (StackRow s : r.stacks()) {
      stacks
          .computeIfAbsent(
              s.id(),
              k ->
                  new StackSum(
                      s.id(),
                      s.allocator(),
                      s.culprit(),
                      s.frames() == null ? List.of() : s.frames()))
          .add(s.bytes(), s.allocations(), 1, s.score(), List.of(host));
    }
    return this;
  }

  /** Adds another instance's roll-up of the same program. */
  public FleetRollup addRollup(FleetReport other) {
    hosts.addAll(other.hostList());
    addTotals(other.outstanding(), other.processes(), other.allocators());
    for (FleetReport.Stack s : other.stacks()) {
      String id =
          s.id() == null ? "" : s.id(); // a peer's row without one (a bug or a forgery) sorts first
      stacks
          .computeIfAbsent(id, k -> new StackSum(id, s.allocator(), s.culprit(), s.frames()))
          .add(s.bytes(), s.allocations(), s.processes(), s.maxScore(), s.hostList());
    }
    return this;
  }

  private void addTotals(Totals outstanding, long processCount, List<AllocatorRow> rows) {
    processes += processCount;
    bytes += outstanding.bytes();
    allocations += outstanding.allocations();
    for (AllocatorRow a : rows) {
      long[] v = allocators.computeIfAbsent(a.module(), k -> new long[2]);
      v[0] += a.bytes();
      v[1] += a.allocations();
    }
  }

  public FleetReport toReport() {
    List<AllocatorRow> allocatorRows = new ArrayList<>();
    allocators.forEach((module, v) -> allocatorRows.add(new AllocatorRow(module, v[0], v[1])));
    allocatorRows.sort(
        Comparator.comparingLong((AllocatorRow a) -> -a.bytes())
            .thenComparing(AllocatorRow::module));
    List<StackSum> rows = new ArrayList<>(stacks.values());
    // Ties broken by id: every instance merging the same shares answers the same.
    rows.sort(Comparator.comparingLong((StackSum s) -> -s.bytes).thenComparing(s -> s.id));
    List<FleetReport.Stack> top =
        rows.stream()
            .limit(MAX_STACKS)
            .map(
                s ->
                    new FleetReport.Stack(
                        s.id,
                        s.allocator,
                        s.culprit,
                        s.bytes,
                        s.allocations,
                        s.processes,
                        s.frames,
                        s.maxScore,
                        s.hosts.size(),
                        s.hosts.stream().limit(MAX_HOSTS_LISTED).toList()))
            .toList();
    return new FleetReport(
        program,
        processes,
        hosts.size(),
        hosts.stream().limit(MAX_HOSTS_LISTED).toList(),
        new Totals(bytes, allocations),
        allocatorRows,
        top,
        Math.max(0, rows.size() - MAX_STACKS));
  }
}
