package io.leakwatch.streams.render;

import io.leakwatch.streams.report.Aggregations;
import io.leakwatch.streams.report.ReleaseHints;
import io.leakwatch.streams.report.Units;
import io.leakwatch.streams.report.model.AllocatorRow;
import io.leakwatch.streams.report.model.FrameRow;
import io.leakwatch.streams.report.model.ProcessInfo;
import io.leakwatch.streams.report.model.ProcessReport;
import io.leakwatch.streams.report.model.SizeRow;
import io.leakwatch.streams.report.model.StackRow;
import io.leakwatch.streams.report.model.Tracking;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The report as text, read like DebugDiag's leak analysis summary: allocators, sizes, stack
 * samples.
 */
public final class TextReport {
  private static final int STACKS = 10;
  private static final int FRAMES = 12;

  private TextReport() {}

  public static String render(ProcessReport r) {
    StringBuilder b = new StringBuilder();
    ProcessInfo p = r.process();
    Tracking t = r.tracking();
    b.append(
        String.format(
            Locale.ROOT,
            "leakwatch report: %s (pid %d on %s)%n",
            clean(p.name()),
            p.pid(),
            clean(p.host())));
    String mode =
        "exact".equals(t.mode())
            ? "exact (every allocation)"
            : "sampled every " + bytes(t.sampleBytes()) + " (estimates)";
    b.append(
        String.format(
            Locale.ROOT,
            "tracking: %s, %s, %d events lost%s%n",
            mode,
            Units.duration(t.seconds()),
            t.lostEvents(),
            t.lostEvents() > 0 ? " (numbers are incomplete)" : ""));
    if (t.attached())
      b.append(
          String.format(
              Locale.ROOT,
              "attached at %s: blocks from before are not counted (%,d frees of them seen)%n",
              t.startedAt(),
              t.unknownFrees()));
    if (p.detached()) b.append("state at detach (the process ran on)\n");
    else if (p.exited())
      b.append("state at exit")
          .append(Boolean.TRUE.equals(p.cleanExit()) ? "" : " (not a clean exit)")
          .append('\n');
    b.append(
        String.format(
            Locale.ROOT,
            "outstanding: %s in %,d allocations%n%n",
            bytes(r.outstanding().bytes()),
            r.outstanding().allocations()));

    b.append("Top allocators (module of the first frame after the allocation function)\n");
    Map<String, List<SizeRow>> sizes = Aggregations.sizesByAllocator(r);
    int n = 0;
    for (AllocatorRow a : r.allocators()) {
      if (n++ == STACKS) break;
      b.append(
          String.format(
              Locale.ROOT,
              "  %-32s %14s  %,10d allocations",
              clean(a.module()),
              bytes(a.bytes()),
              a.allocations()));
      List<SizeRow> bySize = sizes.getOrDefault(a.module(), List.of());
      if (!bySize.isEmpty()) {
        b.append(
            String.format(
                Locale.ROOT,
                "   mostly %s in %,d-byte chunks",
                bytes(bySize.get(0).bytes()),
                bySize.get(0).size()));
      }
      b.append('\n');
    }
    if (n == 0) b.append("  (nothing outstanding)\n");
    b.append('\n');
    int i = 0;
    for (StackRow s : r.stacks()) {
      if (i++ == STACKS) break;
      b.append(
          String.format(
              Locale.ROOT,
              "Stack #%d  %s in %,d allocations (%s), oldest %s  [id %s]%n",
              i,
              bytes(s.bytes()),
              s.allocations(),
              s.kind(),
              Units.duration(s.oldestAgeSeconds()),
              s.id()));
      b.append("  allocator: ").append(clean(s.allocator())).append('\n');
      b.append("  culprit:   ").append(clean(s.culprit())).append('\n');
      if (s.score() != null)
        b.append(String.format(Locale.ROOT, "  leak score: %.2f%n", s.score()));
      ReleaseHints.forStack(s)
          .ifPresent(
              h ->
                  b.append("  hint:      allocated through ")
                      .append(clean(h.allocating()))
                      .append(", released by ")
                      .append(clean(h.release()))
                      .append(": look for a path from the culprit that does not reach it\n"));
      int k = 0;
      for (SizeRow z : s.sizes()) {
        if (k++ == 3) break;
        b.append(
            String.format(
                Locale.ROOT,
                "  %s in %,d-byte allocations (%,d)%n",
                bytes(z.bytes()),
                z.size(),
                z.allocations()));
      }
      int f = 0;
      for (FrameRow fr : s.frames() == null ? List.<FrameRow>of() : s.frames()) {
        if (f++ == FRAMES) {
          b.append("    ...\n");
          break;
        }
        b.append("    ").append(clean(fr.display()));
        if (fr.source() != null) b.append("  ").append(clean(fr.source()));
        b.append('\n');
      }
      b.append('\n');
    }
    return b.toString();
  }

  /** Symbol and process names come from others' binaries: no control characters on a terminal. */
  static String clean(String s) {
    if (s == null) return "";
    StringBuilder b = new StringBuilder(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      b.append(c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) ? '?' : c);
    }
    return b.toString();
  }

  /** Bytes for people (see {@link Units#bytes}). */
  public static String bytes(long v) {
    return Units.bytes(v);
  }
}
