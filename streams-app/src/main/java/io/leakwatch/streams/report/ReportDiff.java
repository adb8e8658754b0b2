package io.leakwatch.streams.report;

import io.leakwatch.streams.report.model.ProcessReport;
import io.leakwatch.streams.report.model.StackRow;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * What changed in a process between a history snapshot and its report now: DebugDiag's "what grew
 * between the two dumps", by stack.
 *
 * @param changes the stacks whose bytes changed, most grown first
 * @param grewBytes the sum of all changes (negative when it shrank)
 */
public record ReportDiff(long thenMs, List<Change> changes, long grewBytes) {
  /** One stack's bytes then and now (0 when it did not exist). */
  public record Change(String id, String culprit, String allocator, long before, long after) {
    public long delta() {
      return after - before;
    }
  }

  public static ReportDiff between(History.Snapshot then, ProcessReport now) {
    List<Change> all = new ArrayList<>();
    Set<String> seen = new HashSet<>();
    for (StackRow s : now.stacks()) {
      seen.add(s.id());
      History.StackAt t = then.stacks().get(s.id());
      all.add(new Change(s.id(), s.culprit(), s.allocator(), t == null ? 0 : t.bytes(), s.bytes()));
    }
    then.stacks()
        .forEach(
            (id, t) -> {
              if (!seen.contains(id))
                all.add(new Change(id, t.culprit(), t.allocator(), t.bytes(), 0));
            });
    all.sort(Comparator.comparingLong((Change ch) -> -ch.delta()));
    long grew = 0;
    for (Change ch : all) grew += ch.delta();
    return new ReportDiff(then.atMs(), all.stream().filter(ch -> ch.delta() != 0).toList(), grew);
  }
}
