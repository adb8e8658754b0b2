package io.leakwatch.streams.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.leakwatch.streams.report.History;
import io.leakwatch.streams.report.ReleaseHints;
import io.leakwatch.streams.report.ReportBuilder;
import io.leakwatch.streams.report.TextReport;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The report pages, rendered on the server: fleet overview, process page, diff. Scripts and styles
 * are served by us from /static (the Content-Security-Policy allows nothing else); data for the
 * flame graph travels as JSON in a non-executable script block. Every value that came from a target
 * (symbol, module, process and host names, command lines) is escaped: it is text from someone
 * else's binary.
 */
public final class ReportPage {
  static final String CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; base-uri 'none';"
      + " form-action 'self'; frame-ancestors 'none'";

  private ReportPage() {}

  // ---------------------------------------------------------------- fleet overview

  /** @param sort "bytes" or "growth" */
  static String overview(List<ObjectNode> processes, History history, String sort) {
    record Row(ObjectNode p, String pk, List<History.Point> pts, double growth) {}
    List<Row> rows = new ArrayList<>();
    for (ObjectNode p : processes) {
      String pk = p.path("host").asText() + "/" + p.path("pid").asInt();
      List<History.Point> pts = history == null ? List.of() : history.points(pk);
      rows.add(new Row(p, pk, pts, History.growthPerHour(pts)));
    }
    if ("growth".equals(sort)) rows.sort(Comparator.comparingDouble((Row r) -> -r.growth()));
    long total = 0;
    int live = 0;
    for (Row r : rows) {
      if (!r.p().path("exited").asBoolean()) {
        total += r.p().path("outstandingBytes").asLong();
        live++;
      }
    }
    StringBuilder b = head("leakwatch: fleet");
    b.append("<header><h1>leakwatch</h1><p>").append(live).append(" tracked processes running, ").append(bytes(total))
        .append(" outstanding native memory. <a href=\"/metrics\">/metrics</a></p></header>");

    // The fleet view: the same program on many hosts reads as one row.
    Map<String, double[]> byName = new TreeMap<>();
    Map<String, java.util.Set<String>> hostsByName = new LinkedHashMap<>();
    for (Row r : rows) {
      if (r.p().path("exited").asBoolean()) continue;
      String name = r.p().path("name").asText();
      double[] v = byName.computeIfAbsent(name, k -> new double[3]);
      v[0] += r.p().path("outstandingBytes").asLong();
      v[1] += r.growth();
      v[2]++;
      hostsByName.computeIfAbsent(name, k -> new java.util.TreeSet<>()).add(r.p().path("host").asText());
    }
    List<Map.Entry<String, double[]>> names = new ArrayList<>(byName.entrySet());
    names.sort(Comparator.comparingDouble((Map.Entry<String, double[]> e) -> -e.getValue()[0]));
    b.append("<section><h2>By program, across hosts</h2><table id=programs><tr><th>program</th><th>hosts</th><th>processes</th>"
        + "<th>outstanding</th><th>growth per hour</th></tr>");
    for (Map.Entry<String, double[]> e : names) {
      b.append("<tr><td><a href=\"/process?process=").append(esc(url(e.getKey()))).append("\">").append(esc(e.getKey()))
          .append("</a></td><td class=n>").append(hostsByName.get(e.getKey()).size()).append("</td><td class=n>")
          .append((long) e.getValue()[2]).append("</td><td class=n>").append(bytes((long) e.getValue()[0])).append("</td><td class=n>")
          .append(rate(e.getValue()[1])).append("</td></tr>");
    }
    if (names.isEmpty()) b.append("<tr><td colspan=5>no tracked processes yet</td></tr>");
    b.append("</table></section>");

    b.append("<section><h2>Processes by ").append("growth".equals(sort) ? "growth" : "outstanding native bytes")
        .append("</h2><p class=sort>sort by <a href=\"/?sort=bytes\">outstanding</a> | <a href=\"/?sort=growth\">growth</a></p>")
        .append("<table id=processes><tr><th>process</th><th>host</th><th>pid</th><th>native outstanding</th><th>managed heap</th>")
        .append("<th>private bytes</th><th>native / managed</th><th>growth per hour</th><th>last hour</th><th>lost events</th>")
        .append("<th>state</th></tr>");
    for (Row r : rows) {
      ObjectNode p = r.p();
      History.Point last = r.pts().isEmpty() ? null : r.pts().get(r.pts().size() - 1);
      long nat = p.path("outstandingBytes").asLong();
      long managed = last == null ? -1 : last.managedHeapBytes();
      String link = "/process?host=" + url(p.path("host").asText()) + "&pid=" + p.path("pid").asInt();
      b.append("<tr><td><a href=\"").append(esc(link)).append("\">").append(esc(p.path("name").asText())).append("</a></td><td>")
          .append(esc(p.path("host").asText())).append("</td><td class=n>").append(p.path("pid").asInt()).append("</td><td class=n>")
          .append(bytes(nat)).append("</td><td class=n>").append(managed < 0 ? "-" : bytes(managed)).append("</td><td class=n>")
          .append(last == null || last.privateBytes() < 0 ? "-" : bytes(last.privateBytes())).append("</td><td>")
          .append(splitBar(nat, managed)).append("</td><td class=n>").append(rate(r.growth())).append("</td><td>")
          .append(sparkline(r.pts())).append("</td><td class=n>").append(p.path("lostEvents").asLong()).append("</td><td>")
          .append(p.path("exited").asBoolean() ? "exited" : "running").append("</td></tr>");
    }
    if (rows.isEmpty()) b.append("<tr><td colspan=11>no tracked processes yet</td></tr>");
    return b.append("</table></section></body></html>").toString();
  }

  // ---------------------------------------------------------------- process page

  public static String process(ObjectNode r) {
    return process(r, null);
  }

  static String process(ObjectNode r, History history) {
    JsonNode p = r.path("process");
    JsonNode t = r.path("tracking");
    JsonNode c = r.path("counters");
    String pk = p.path("host").asText() + "/" + p.path("pid").asInt();
    String q = "host=" + url(p.path("host").asText()) + "&pid=" + p.path("pid").asInt();
    StringBuilder b = head("leakwatch: " + p.path("name").asText());
    b.append("<header><p><a href=\"/\">fleet</a></p><h1>").append(esc(p.path("name").asText())).append(" <small>pid ")
        .append(p.path("pid").asInt()).append(" on ").append(esc(p.path("host").asText())).append("</small></h1><p class=cmd><code>")
        .append(esc(p.path("command").asText())).append("</code></p>");
    long outstanding = r.path("outstanding").path("bytes").asLong();
    b.append("<p id=summary><b>").append(bytes(outstanding)).append("</b> outstanding in ")
        .append(r.path("outstanding").path("allocations").asLong()).append(" allocations; ").append(esc(t.path("mode").asText()))
        .append(" tracking");
    if (t.path("sampleBytes").asLong() > 0) b.append(" (one sample per ").append(bytes(t.path("sampleBytes").asLong())).append(")");
    b.append(" since ").append(esc(t.path("startedAt").asText())).append(" (").append(duration(t.path("seconds").asDouble()))
        .append(")");
    if (p.path("exited").asBoolean()) {
      b.append("; exited ").append(esc(p.path("exitedAt").asText())).append(p.path("cleanExit").asBoolean() ? "" : " (killed)")
          .append(": what it still held at exit");
    }
    b.append(". <a href=\"/api/report?").append(esc(q)).append("&format=pprof\">pprof</a> | <a href=\"/api/report?").append(esc(q))
        .append("\">json</a> | <a href=\"/api/report?").append(esc(q)).append("&format=text\">text</a> | diff: ");
    for (int m : new int[] {5, 15, 60}) {
      b.append("<a href=\"/diff?").append(esc(q)).append("&minutes=").append(m).append("\">last ").append(m).append(" min</a> ");
    }
    b.append("</p>");
    for (String w : warnings(r)) b.append("<p class=warn>").append(esc(w)).append("</p>");
    b.append("</header>");

    // perfmon's counters and !address -summary
    b.append("<section id=counters><h2>Process memory</h2><table><tr><th>private</th><th>virtual</th><th>resident</th>")
        .append("<th>managed heap</th><th>open fds</th><th>heap fragmentation</th></tr><tr>")
        .append(cell(c, "privateBytes")).append(cell(c, "virtualBytes")).append(cell(c, "residentBytes")).append(cell(c, "managedHeapBytes"))
        .append("<td class=n>").append(c.has("openFds") ? c.path("openFds").asText() : "-").append("</td><td class=n>")
        .append(c.has("heapFragmentationRatio") ? String.format(Locale.ROOT, "%.0f%% of %s free", 100 * c.path("heapFragmentationRatio")
            .asDouble(), bytes(c.path("heapArenaBytes").asLong())) : "-")
        .append("</td></tr></table>");
    if (c.path("regions").isObject()) {
      b.append("<h3>Regions</h3><table id=regions><tr><th>kind</th><th>committed</th><th>reserved</th></tr>");
      List<Map.Entry<String, JsonNode>> regions = new ArrayList<>();
      c.path("regions").fields().forEachRemaining(regions::add);
      regions.sort(Comparator.comparingLong((Map.Entry<String, JsonNode> e) -> -e.getValue().path("committedBytes").asLong()));
      for (Map.Entry<String, JsonNode> e : regions) {
        b.append("<tr><td>").append(esc(e.getKey())).append("</td><td class=n>").append(bytes(e.getValue().path("committedBytes").asLong()))
            .append("</td><td class=n>").append(bytes(e.getValue().path("reservedBytes").asLong())).append("</td></tr>");
      }
      b.append("</table>");
    }
    b.append("</section>");

    // DebugDiag's top allocating modules, and per module the allocation sizes
    Map<String, Map<Long, long[]>> sizesByAllocator = new LinkedHashMap<>();
    for (JsonNode s : r.path("stacks")) {
      Map<Long, long[]> m = sizesByAllocator.computeIfAbsent(s.path("allocator").asText(), k -> new TreeMap<>());
      for (JsonNode z : s.path("sizes")) {
        long[] v = m.computeIfAbsent(z.path("size").asLong(), k -> new long[2]);
        v[0] += z.path("bytes").asLong();
        v[1] += z.path("allocations").asLong();
      }
    }
    b.append("<section id=allocators><h2>Top allocators</h2><table><tr><th>module</th><th>outstanding</th><th>allocations</th>")
        .append("<th>share</th><th>mostly in chunks of</th></tr>");
    for (JsonNode a : r.path("allocators")) {
      String module = a.path("module").asText();
      long ab = a.path("bytes").asLong();
      b.append("<tr><td class=module>").append(esc(module)).append("</td><td class=n>").append(bytes(ab)).append("</td><td class=n>")
          .append(a.path("allocations").asLong()).append("</td><td>").append(bar(outstanding > 0 ? (double) ab / outstanding : 0))
          .append("</td><td>");
      List<Map.Entry<Long, long[]>> sizes = new ArrayList<>(sizesByAllocator.getOrDefault(module, Map.of()).entrySet());
      sizes.sort(Comparator.comparingLong((Map.Entry<Long, long[]> e) -> -e.getValue()[0]));
      int k = 0;
      for (Map.Entry<Long, long[]> e : sizes) {
        if (k++ == 3) break;
        b.append(bytes(e.getValue()[0])).append(" in ").append(e.getKey()).append("-byte chunks");
        b.append(k < Math.min(3, sizes.size()) ? "; " : "");
      }
      b.append("</td></tr>");
    }
    b.append("</table></section>");

    // The icicle: outstanding bytes by stack, callers on top; click to zoom.
    b.append("<section id=flame-section><h2>Outstanding bytes by call stack</h2><p class=hint>Callers above callees; width is"
        + " outstanding bytes. Click a frame to zoom in, the top bar to zoom out.</p><div id=flame></div>"
        + "<script type=\"application/json\" id=flame-data>").append(scriptJson(flameTree(r))).append("</script></section>");

    // The stacks themselves
    b.append("<section id=stacks><h2>Top stacks</h2>");
    Map<String, History.StackAt> before = Map.of();
    if (history != null) {
      var snaps = history.snapshots(pk);
      if (snaps.size() > 1) before = snaps.get(0).stacks();
    }
    int i = 0;
    for (JsonNode s : r.path("stacks")) {
      if (i++ == 25) break;
      b.append("<article class=stack><h3><span class=bytes>").append(bytes(s.path("bytes").asLong())).append("</span> in ")
          .append(s.path("allocations").asLong()).append(" allocations from <code class=culprit>").append(esc(s.path("culprit").asText()))
          .append("</code></h3><p>allocator <b>").append(esc(s.path("allocator").asText())).append("</b>, ").append(esc(s.path("kind")
              .asText("heap"))).append(", oldest allocation ").append(duration(s.path("oldestAgeSeconds").asDouble())).append(" old");
      if (s.has("score")) {
        b.append(", leak score <b class=score>").append(String.format(Locale.ROOT, "%.2f", s.path("score").asDouble())).append("</b>");
      }
      History.StackAt then = before.get(s.path("id").asText());
      if (then != null) b.append(", ").append(signedBytes(s.path("bytes").asLong() - then.bytes())).append(" since the page's history began");
      b.append(". Sizes: ");
      int k = 0;
      for (JsonNode z : s.path("sizes")) {
        if (k++ == 5) break;
        b.append(z.path("size").asLong()).append(" B &times; ").append(z.path("allocations").asLong()).append("; ");
      }
      b.append("</p>");
      ReleaseHints.forStack(s).ifPresent(h -> b.append("<p class=hint-release>Allocated through <code>").append(esc(h.allocating()))
          .append("</code> (").append(esc(h.library())).append("), which is released by <code>").append(esc(h.release()))
          .append("</code>: look for a path from <code>").append(esc(s.path("culprit").asText())).append("</code> that does not reach it.</p>"));
      b.append("<details><summary>call stack (").append(s.path("frames").size()).append(" frames)</summary><ol class=frames>");
      for (JsonNode f : s.path("frames")) b.append("<li><code>").append(esc(f.path("display").asText())).append("</code></li>");
      b.append("</ol></details></article>");
    }
    if (r.path("stacks").isEmpty()) b.append("<p>nothing outstanding</p>");
    if (r.path("stacksOmitted").asLong() > 0) {
      b.append("<p>").append(r.path("stacksOmitted").asLong()).append(" smaller stacks not shown (all of them are in the pprof profile"
          + " and the JSON).</p>");
    }
    return b.append("</section></body></html>").toString();
  }

  /** What a reader should doubt before trusting the numbers. */
  static List<String> warnings(JsonNode r) {
    List<String> w = new ArrayList<>();
    JsonNode t = r.path("tracking");
    JsonNode c = r.path("counters");
    if (t.path("lostEvents").asLong() > 0) {
      w.add(t.path("lostEvents").asLong() + " events were lost before reaching Kafka: numbers are incomplete"
          + ("sampled".equals(t.path("mode").asText()) ? " until the next resync" : "") + ".");
    }
    long outstanding = r.path("outstanding").path("bytes").asLong();
    long priv = c.path("privateBytes").asLong(0);
    long managed = c.path("managedHeapBytes").asLong(0);
    try {
      if (c.has("processStartedAt") && t.has("startedAt")) {
        long late = Instant.parse(t.path("startedAt").asText()).getEpochSecond() - Instant.parse(c.path("processStartedAt").asText())
            .getEpochSecond();
        if (late > 60) {
          w.add("Tracking began " + duration(late) + " after the process started: allocations made before are not seen, so a leak"
              + " that started earlier is understated (private bytes " + TextReport.bytes(priv) + ", tracked outstanding "
              + TextReport.bytes(outstanding) + ").");
        }
      }
    } catch (RuntimeException e) {
      // unparseable times: no warning
    }
    if (priv > 0 && outstanding + managed < priv / 4 && priv > (256L << 20)) {
      w.add("Tracked native allocations and the managed heap explain only " + (100 * (outstanding + managed) / priv)
          + "% of private bytes: the rest is code, thread stacks, untracked mappings or memory allocated before tracking.");
    }
    return w;
  }

  /** The icicle's tree: root, then frames from the outermost caller down to the allocator. */
  static ObjectNode flameTree(JsonNode r) {
    ObjectNode root = ReportBuilder.JSON.createObjectNode();
    root.put("n", "all");
    root.put("v", 0L);
    for (JsonNode s : r.path("stacks")) {
      long v = s.path("bytes").asLong();
      root.put("v", root.path("v").asLong() + v);
      ObjectNode node = root;
      JsonNode frames = s.path("frames");
      for (int i = frames.size() - 1; i >= 0; i--) {
        JsonNode f = frames.get(i);
        String name = f.path("function").isTextual() ? f.path("module").asText() + "!" + f.path("function").asText()
            : f.path("display").asText();
        ArrayNode kids = node.has("c") ? (ArrayNode) node.get("c") : node.putArray("c");
        ObjectNode next = null;
        for (JsonNode k : kids) {
          if (k.path("n").asText().equals(name)) {
            next = (ObjectNode) k;
            break;
          }
        }
        if (next == null) {
          next = kids.addObject();
          next.put("n", name);
          next.put("v", 0L);
        }
        next.put("v", next.path("v").asLong() + v);
        node = next;
      }
    }
    return root;
  }

  // ---------------------------------------------------------------- diff

  static String diff(ObjectNode now, History.Snapshot then, long nowMs) {
    JsonNode p = now.path("process");
    StringBuilder b = head("leakwatch: what grew in " + p.path("name").asText());
    String q = "host=" + url(p.path("host").asText()) + "&pid=" + p.path("pid").asInt();
    b.append("<header><p><a href=\"/\">fleet</a> / <a href=\"/process?").append(esc(q)).append("\">").append(esc(p.path("name").asText()))
        .append("</a></p><h1>What grew in ").append(esc(p.path("name").asText())).append(" <small>pid ").append(p.path("pid").asInt())
        .append(" on ").append(esc(p.path("host").asText())).append("</small></h1>");
    if (then == null) {
      return b.append("<p class=warn>No earlier snapshot of this process on this instance yet (snapshots are taken every minute"
          + " while it runs).</p></header></body></html>").toString();
    }
    b.append("<p>From ").append(esc(Instant.ofEpochMilli(then.atMs()).toString())).append(" to ").append(esc(Instant.ofEpochMilli(nowMs)
        .toString())).append(" (").append(duration((nowMs - then.atMs()) / 1000.0)).append(").</p></header>");
    record Change(String id, String culprit, String allocator, long before, long after) {}
    List<Change> changes = new ArrayList<>();
    java.util.Set<String> seen = new java.util.HashSet<>();
    for (JsonNode s : now.path("stacks")) {
      String id = s.path("id").asText();
      seen.add(id);
      History.StackAt t = then.stacks().get(id);
      changes.add(new Change(id, s.path("culprit").asText(), s.path("allocator").asText(), t == null ? 0 : t.bytes(),
          s.path("bytes").asLong()));
    }
    then.stacks().forEach((id, t) -> {
      if (!seen.contains(id)) changes.add(new Change(id, t.culprit(), t.allocator(), t.bytes(), 0));
    });
    changes.sort(Comparator.comparingLong((Change ch) -> -(ch.after() - ch.before())));
    long grew = 0;
    for (Change ch : changes) grew += ch.after() - ch.before();
    b.append("<p id=diff-total>Outstanding changed by <b>").append(signedBytes(grew)).append("</b>.</p><table id=diff><tr><th>culprit</th>")
        .append("<th>allocator</th><th>then</th><th>now</th><th>change</th></tr>");
    for (Change ch : changes) {
      if (ch.after() == ch.before()) continue;
      b.append("<tr><td><code>").append(esc(ch.culprit())).append("</code></td><td>").append(esc(ch.allocator())).append("</td><td class=n>")
          .append(bytes(ch.before())).append("</td><td class=n>").append(bytes(ch.after())).append("</td><td class=n>")
          .append(signedBytes(ch.after() - ch.before())).append(ch.before() == 0 ? " (new)" : "").append("</td></tr>");
    }
    return b.append("</table></body></html>").toString();
  }

  static String notFound() {
    return head("leakwatch: not found").append("<p>No such process. <a href=\"/\">All processes</a></p></body></html>").toString();
  }

  // ---------------------------------------------------------------- pieces

  private static StringBuilder head(String title) {
    return new StringBuilder("<!doctype html><html lang=en><head><meta charset=utf-8><title>").append(esc(title))
        .append("</title><link rel=icon href=\"/static/favicon.svg\" type=\"image/svg+xml\"><link rel=stylesheet href=\"/static/leakwatch.css\"><script src=\"/static/leakwatch.js\" defer></script>")
        .append("</head><body>");
  }

  private static String cell(JsonNode c, String field) {
    return "<td class=n>" + (c.has(field) && !c.path(field).isNull() ? bytes(c.path(field).asLong()) : "-") + "</td>";
  }

  /** An inline SVG line of outstanding bytes over the recorded points. */
  static String sparkline(List<History.Point> pts) {
    if (pts.size() < 2) return "<span class=muted>-</span>";
    long min = Long.MAX_VALUE, max = Long.MIN_VALUE;
    for (History.Point p : pts) {
      min = Math.min(min, p.outstandingBytes());
      max = Math.max(max, p.outstandingBytes());
    }
    double w = 120, h = 24;
    double t0 = pts.get(0).atMs(), t1 = pts.get(pts.size() - 1).atMs();
    StringBuilder b = new StringBuilder("<svg class=spark width=120 height=24 viewBox=\"0 0 120 24\" role=img><polyline points=\"");
    for (History.Point p : pts) {
      double x = t1 > t0 ? (p.atMs() - t0) / (t1 - t0) * w : 0;
      double y = max > min ? h - 2 - (p.outstandingBytes() - min) / (double) (max - min) * (h - 4) : h / 2;
      b.append(String.format(Locale.ROOT, "%.1f,%.1f ", x, y));
    }
    return b.append("\"/></svg>").toString();
  }

  /** Native versus managed, as two stacked bars. */
  private static String splitBar(long nativeBytes, long managedBytes) {
    if (managedBytes < 0) return "<span class=muted>native only</span>";
    double total = Math.max(1, nativeBytes + managedBytes);
    double nw = 100 * nativeBytes / total;
    return String.format(Locale.ROOT, "<svg class=split width=100 height=10 viewBox=\"0 0 100 10\" role=img>"
        + "<rect class=native x=\"0\" y=\"0\" width=\"%.1f\" height=\"10\"/><rect class=managed x=\"%.1f\" y=\"0\" width=\"%.1f\" height=\"10\"/>"
        + "<title>native %s, managed %s</title></svg>", nw, nw, 100 - nw, bytes(nativeBytes), bytes(managedBytes));
  }

  private static String bar(double share) {
    return String.format(Locale.ROOT, "<svg class=bar width=100 height=10 viewBox=\"0 0 100 10\" role=img>"
        + "<rect x=\"0\" y=\"0\" width=\"%.1f\" height=\"10\"/></svg> %.0f%%", 100 * share, 100 * share);
  }

  /** JSON inside a script element: no character of it may close the element. */
  static String scriptJson(JsonNode n) {
    return n.toString().replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026");
  }

  static String esc(String s) {
    StringBuilder b = new StringBuilder(s.length() + 16);
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '<' -> b.append("&lt;");
        case '>' -> b.append("&gt;");
        case '&' -> b.append("&amp;");
        case '"' -> b.append("&quot;");
        case '\'' -> b.append("&#39;");
        default -> b.append(c);
      }
    }
    return b.toString();
  }

  private static String url(String s) {
    return java.net.URLEncoder.encode(s, java.nio.charset.StandardCharsets.UTF_8);
  }

  private static String bytes(long v) {
    return esc(TextReport.bytes(v));
  }

  private static String signedBytes(long v) {
    return (v >= 0 ? "+" : "-") + bytes(Math.abs(v));
  }

  private static String rate(double bytesPerHour) {
    if (Math.abs(bytesPerHour) < 1) return "-";
    return (bytesPerHour >= 0 ? "+" : "-") + bytes(Math.round(Math.abs(bytesPerHour))) + "/h";
  }

  static String duration(double seconds) {
    if (seconds < 120) return String.format(Locale.ROOT, "%.1f s", seconds);
    if (seconds < 7200) return String.format(Locale.ROOT, "%.0f min", seconds / 60);
    if (seconds < 172800) return String.format(Locale.ROOT, "%.1f h", seconds / 3600);
    return String.format(Locale.ROOT, "%.1f days", seconds / 86400);
  }
}
