package io.leakwatch.streams.report;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Locale;

/** The report as text, read like DebugDiag's leak analysis summary: allocators, sizes, stack samples. */
public final class TextReport {
  private static final int STACKS = 10;
  private static final int FRAMES = 12;

  private TextReport() {}

  public static String render(JsonNode r) {
    StringBuilder b = new StringBuilder();
    JsonNode p = r.path("process");
    JsonNode t = r.path("tracking");
    b.append(String.format(Locale.ROOT, "leakwatch report: %s (pid %d on %s)%n", clean(p.path("name").asText()),
        p.path("pid").asInt(), clean(p.path("host").asText())));
    String mode = "exact".equals(t.path("mode").asText()) ? "exact (every allocation)"
        : "sampled every " + bytes(t.path("sampleBytes").asLong()) + " (estimates)";
    b.append(String.format(Locale.ROOT, "tracking: %s, %.1f s, %d events lost%s%n", mode, t.path("seconds").asDouble(),
        t.path("lostEvents").asLong(), t.path("lostEvents").asLong() > 0 ? " (numbers are incomplete)" : ""));
    if (p.path("exited").asBoolean()) b.append("state at exit").append(p.path("cleanExit").asBoolean() ? "" : " (not a clean exit)").append('\n');
    b.append(String.format(Locale.ROOT, "outstanding: %s in %,d allocations%n%n", bytes(r.path("outstanding").path("bytes").asLong()),
        r.path("outstanding").path("allocations").asLong()));

    b.append("Top allocators (module of the first frame after the allocation function)\n");
    // Per allocator, the sizes that hold most of it: DebugDiag's "689 MB in 422-byte chunks".
    java.util.Map<String, java.util.Map<Long, Long>> sizes = new java.util.HashMap<>();
    for (JsonNode s : r.path("stacks")) {
      java.util.Map<Long, Long> m = sizes.computeIfAbsent(s.path("allocator").asText(), k -> new java.util.HashMap<>());
      for (JsonNode z : s.path("sizes")) m.merge(z.path("size").asLong(), z.path("bytes").asLong(), Long::sum);
    }
    int n = 0;
    for (JsonNode a : r.path("allocators")) {
      if (n++ == STACKS) break;
      b.append(String.format(Locale.ROOT, "  %-32s %14s  %,10d allocations", clean(a.path("module").asText()),
          bytes(a.path("bytes").asLong()), a.path("allocations").asLong()));
      sizes.getOrDefault(a.path("module").asText(), java.util.Map.of()).entrySet().stream()
          .max(java.util.Map.Entry.comparingByValue())
          .ifPresent(e -> b.append(String.format(Locale.ROOT, "   mostly %s in %,d-byte chunks", bytes(e.getValue()), e.getKey())));
      b.append('\n');
    }
    if (n == 0) b.append("  (nothing outstanding)\n");
    b.append('\n');
    int i = 0;
    for (JsonNode s : r.path("stacks")) {
      if (i++ == STACKS) break;
      b.append(String.format(Locale.ROOT, "Stack #%d  %s in %,d allocations (%s), oldest %.1f s  [id %s]%n", i,
          bytes(s.path("bytes").asLong()), s.path("allocations").asLong(), s.path("kind").asText(),
          s.path("oldestAgeSeconds").asDouble(), s.path("id").asText()));
      b.append("  allocator: ").append(clean(s.path("allocator").asText())).append('\n');
      b.append("  culprit:   ").append(clean(s.path("culprit").asText())).append('\n');
      if (s.has("score")) b.append(String.format(Locale.ROOT, "  leak score: %.2f%n", s.path("score").asDouble()));
      ReleaseHints.forStack(s).ifPresent(h -> b.append("  hint:      allocated through ").append(clean(h.allocating()))
          .append(", released by ").append(clean(h.release())).append(": look for a path from the culprit that does not reach it\n"));
      int k = 0;
      for (JsonNode z : s.path("sizes")) {
        if (k++ == 3) break;
        b.append(String.format(Locale.ROOT, "  %s in %,d-byte allocations (%,d)%n", bytes(z.path("bytes").asLong()),
            z.path("size").asLong(), z.path("allocations").asLong()));
      }
      int f = 0;
      for (JsonNode fr : s.path("frames")) {
        if (f++ == FRAMES) {
          b.append("    ...\n");
          break;
        }
        b.append("    ").append(clean(fr.path("display").asText())).append('\n');
      }
      b.append('\n');
    }
    return b.toString();
  }

  /** Symbol and process names come from others' binaries: no control characters on a terminal. */
  static String clean(String s) {
    StringBuilder b = new StringBuilder(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      b.append(c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) ? '?' : c);
    }
    return b.toString();
  }

  /** Bytes for people: "4,096 bytes", "12.5 KB", "703.0 MB". */
  public static String bytes(long v) {
    if (v >= 10L << 20) return String.format(Locale.ROOT, "%,.1f MB", v / 1048576.0);
    if (v >= 10L << 10) return String.format(Locale.ROOT, "%,.1f KB", v / 1024.0);
    return String.format(Locale.ROOT, "%,d bytes", v);
  }
}
