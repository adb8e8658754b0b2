package io.leakwatch.streams.report;

import io.leakwatch.streams.report.model.ProcessReport;
import io.leakwatch.streams.report.model.ProcessSummary;
import io.leakwatch.streams.report.model.SizeRow;
import io.leakwatch.streams.report.model.StackRow;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.ToDoubleFunction;

/** Views of reports that more than one renderer shows, computed once here. */
public final class Aggregations {
  private Aggregations() {}

  /**
   * Per allocator module, the allocation sizes of its stacks summed, largest bytes first (ties:
   * smaller size first): DebugDiag's "689 MB in 422-byte chunks".
   */
  public static Map<String, List<SizeRow>> sizesByAllocator(ProcessReport r) {
    Map<String, Map<Long, long[]>> sums = new HashMap<>();
    for (StackRow s : r.stacks()) {
      Map<Long, long[]> m = sums.computeIfAbsent(s.allocator(), k -> new TreeMap<>());
      for (SizeRow z : s.sizes()) {
        long[] v = m.computeIfAbsent(z.size(), k -> new long[2]);
        v[0] += z.bytes();
        v[1] += z.allocations();
      }
    }
    Map<String, List<SizeRow>> out = new HashMap<>();
    sums.forEach(
        (allocator, m) -> {
          List<SizeRow> rows = new ArrayList<>();
          m.forEach((size, v) -> rows.add(new SizeRow(size, v[0], v[1])));
          rows.sort(Comparator.comparingLong((SizeRow z) -> -z.bytes()));
          out.put(allocator, rows);
        });
    return out;
  }

  /** One program across the hosts of a process list: the overview's "by program" rows. */
  public record ProgramRow(
      String program, int hosts, long processes, long outstandingBytes, double growthPerHour) {}

  /**
   * The running processes of a list, one row per program name, largest first.
   *
   * @param growthPerHour a process's growth in bytes per hour (from the page history)
   */
  public static List<ProgramRow> byProgram(
      List<ProcessSummary> processes, ToDoubleFunction<ProcessSummary> growthPerHour) {
    Map<String, double[]> sums = new TreeMap<>();
    Map<String, TreeSet<String>> hosts = new LinkedHashMap<>();
    for (ProcessSummary p : processes) {
      if (p.exited()) continue;
      double[] v = sums.computeIfAbsent(p.name(), k -> new double[3]);
      v[0] += p.outstandingBytes();
      v[1] += growthPerHour.applyAsDouble(p);
      v[2]++;
      hosts.computeIfAbsent(p.name(), k -> new TreeSet<>()).add(p.host());
    }
    List<ProgramRow> rows = new ArrayList<>();
    sums.forEach(
        (name, v) ->
            rows.add(new ProgramRow(name, hosts.get(name).size(), (long) v[2], (long) v[0], v[1])));
    rows.sort(Comparator.comparingLong((ProgramRow r) -> -r.outstandingBytes()));
    return rows;
  }
}
