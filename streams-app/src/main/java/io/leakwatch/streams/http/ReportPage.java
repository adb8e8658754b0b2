package io.leakwatch.streams.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.Locale;

/** Server-rendered pages (no scripts, no external resources); every value is escaped. */
final class ReportPage {
  private static final String STYLE = "<style>body{font-family:sans-serif;margin:2em;color:#222}"
      + "table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}"
      + "td.n{text-align:right;font-variant-numeric:tabular-nums}code{font-size:90%}.warn{color:#a40}</style>";

  private ReportPage() {}

  static String overview(List<ObjectNode> processes) {
    StringBuilder b = head("leakwatch: processes");
    b.append("<h1>Processes by outstanding native bytes</h1><table><tr><th>process</th><th>host</th><th>pid</th>"
        + "<th>outstanding</th><th>mode</th><th>lost events</th><th>state</th></tr>");
    for (ObjectNode p : processes) {
      String link = "/process?host=" + url(p.get("host").asText()) + "&pid=" + p.get("pid").asInt();
      b.append("<tr><td><a href=\"").append(esc(link)).append("\">").append(esc(p.get("name").asText())).append("</a></td><td>")
          .append(esc(p.get("host").asText())).append("</td><td class=n>").append(p.get("pid").asInt())
          .append("</td><td class=n>").append(bytes(p.get("outstandingBytes").asLong())).append("</td><td>")
          .append(esc(p.get("mode").asText())).append("</td><td class=n>").append(p.get("lostEvents").asLong())
          .append("</td><td>").append(p.get("exited").asBoolean() ? "exited" : "running").append("</td></tr>");
    }
    if (processes.isEmpty()) b.append("<tr><td colspan=7>no tracked processes yet</td></tr>");
    return b.append("</table><p><a href=\"/metrics\">/metrics</a></p></body></html>").toString();
  }

  static String process(ObjectNode r) {
    JsonNode p = r.path("process");
    StringBuilder b = head("leakwatch: " + p.path("name").asText());
    b.append("<h1>").append(esc(p.path("name").asText())).append(" <small>pid ").append(p.path("pid").asInt())
        .append(" on ").append(esc(p.path("host").asText())).append("</small></h1>");
    JsonNode t = r.path("tracking");
    b.append("<p>").append(esc(t.path("mode").asText())).append(" tracking for ")
        .append(String.format(Locale.ROOT, "%.1f", t.path("seconds").asDouble())).append(" s; outstanding <b>")
        .append(bytes(r.path("outstanding").path("bytes").asLong())).append("</b> in ")
        .append(r.path("outstanding").path("allocations").asLong()).append(" allocations");
    if (t.path("lostEvents").asLong() > 0) {
      b.append(" <span class=warn>(").append(t.path("lostEvents").asLong()).append(" events lost: numbers incomplete)</span>");
    }
    b.append("</p><h2>Top allocators</h2><table><tr><th>module</th><th>bytes</th><th>allocations</th></tr>");
    for (JsonNode a : r.path("allocators")) {
      b.append("<tr><td>").append(esc(a.path("module").asText())).append("</td><td class=n>")
          .append(bytes(a.path("bytes").asLong())).append("</td><td class=n>").append(a.path("allocations").asLong())
          .append("</td></tr>");
    }
    b.append("</table><h2>Top stacks</h2>");
    int i = 0;
    for (JsonNode s : r.path("stacks")) {
      if (i++ == 20) break;
      b.append("<h3>").append(bytes(s.path("bytes").asLong())).append(" in ").append(s.path("allocations").asLong())
          .append(" allocations, culprit <code>").append(esc(s.path("culprit").asText())).append("</code></h3><p>allocator ")
          .append(esc(s.path("allocator").asText())).append(", oldest ")
          .append(String.format(Locale.ROOT, "%.1f", s.path("oldestAgeSeconds").asDouble())).append(" s, sizes: ");
      int k = 0;
      for (JsonNode z : s.path("sizes")) {
        if (k++ == 5) break;
        b.append(z.path("size").asLong()).append(" B &times; ").append(z.path("allocations").asLong()).append("; ");
      }
      b.append("</p><pre>");
      for (JsonNode f : s.path("frames")) b.append(esc(f.path("display").asText())).append('\n');
      b.append("</pre>");
    }
    return b.append("<p><a href=\"/\">all processes</a></p></body></html>").toString();
  }

  static String notFound() {
    return head("leakwatch: not found").append("<p>No such process. <a href=\"/\">All processes</a></p></body></html>").toString();
  }

  private static StringBuilder head(String title) {
    return new StringBuilder("<!doctype html><html><head><meta charset=utf-8><title>").append(esc(title))
        .append("</title>").append(STYLE).append("</head><body>");
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
    return esc(io.leakwatch.streams.report.TextReport.bytes(v));
  }
}
