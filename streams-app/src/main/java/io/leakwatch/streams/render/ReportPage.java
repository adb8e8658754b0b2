package io.leakwatch.streams.render;

import gg.jte.ContentType;
import gg.jte.TemplateEngine;
import gg.jte.output.StringOutput;
import io.leakwatch.streams.report.Aggregations;
import io.leakwatch.streams.report.Caveats;
import io.leakwatch.streams.report.FlameTree;
import io.leakwatch.streams.report.History;
import io.leakwatch.streams.report.ReleaseHints;
import io.leakwatch.streams.report.ReportDiff;
import io.leakwatch.streams.report.Units;
import io.leakwatch.streams.report.model.AllocatorRow;
import io.leakwatch.streams.report.model.Counters;
import io.leakwatch.streams.report.model.ProcessReport;
import io.leakwatch.streams.report.model.ProcessSummary;
import io.leakwatch.streams.report.model.ReportJson;
import io.leakwatch.streams.report.model.SizeRow;
import io.leakwatch.streams.report.model.StackRow;
import io.leakwatch.streams.score.LeakScore;
import io.leakwatch.streams.stores.Keys;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The report pages, rendered on the server from jte templates (src/main/jte), which escape every
 * value by its context: symbol, module, process and host names and command lines are text from
 * someone else's binary. This class gathers what a page shows (the views below); the templates only
 * lay it out. Scripts and styles are served by us from /static (the Content-Security-Policy allows
 * nothing else); the flame graph's data travels as JSON in an attribute.
 */
public final class ReportPage {
  public static final String CSP =
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
          + " base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
  private static final TemplateEngine PAGES =
      TemplateEngine.createPrecompiled(
          null, ContentType.Html, null, "io.leakwatch.streams.render.pages");

  private ReportPage() {}

  // ---------------------------------------------------------------- fleet overview

  /** One process on the overview: its figures as shown, and its history as a sparkline. */
  public record ProcessLine(
      ProcessSummary p,
      String link,
      String outstanding,
      String managed,
      String privateBytes,
      Bar split,
      String growth,
      String spark) {}

  /**
   * Native against managed as two stacked bars (null: native only), or one share bar.
   *
   * @param title what a pointer shows
   */
  public record Bar(String first, String second, String title, String label) {}

  public record OverviewView(
      int live,
      String total,
      List<Aggregations.ProgramRow> programs,
      String sort,
      List<ProcessLine> processes) {
    public String programLink(Aggregations.ProgramRow row) {
      return "/process?process=" + url(row.program());
    }
  }

  /**
   * @param sort "bytes" or "growth"
   */
  public static String overview(List<ProcessSummary> processes, History history, String sort) {
    record Row(ProcessSummary p, List<History.Point> pts, double growth) {}
    List<Row> rows = new ArrayList<>();
    for (ProcessSummary p : processes) {
      List<History.Point> pts =
          history == null ? List.of() : history.points(Keys.process(p.host(), p.pid()));
      rows.add(new Row(p, pts, History.growthPerHour(pts)));
    }
    if ("growth".equals(sort)) rows.sort(Comparator.comparingDouble((Row r) -> -r.growth()));
    long total = 0;
    int live = 0;
    for (Row r : rows) {
      if (!r.p().exited()) {
        total += r.p().outstandingBytes();
        live++;
      }
    }
    List<ProcessLine> lines = new ArrayList<>();
    for (Row r : rows) {
      ProcessSummary p = r.p();
      History.Point last = r.pts().isEmpty() ? null : r.pts().get(r.pts().size() - 1);
      long managed = last == null ? -1 : last.managedHeapBytes();
      lines.add(
          new ProcessLine(
              p,
              "/process?host=" + url(p.host()) + "&pid=" + p.pid(),
              Units.bytes(p.outstandingBytes()),
              managed < 0 ? "-" : Units.bytes(managed),
              last == null || last.privateBytes() < 0 ? "-" : Units.bytes(last.privateBytes()),
              splitBar(p.outstandingBytes(), managed),
              Units.rate(r.growth()),
              sparkline(r.pts())));
    }
    Map<ProcessSummary, Double> growth = new IdentityHashMap<>();
    for (Row r : rows) growth.put(r.p(), r.growth());
    List<Aggregations.ProgramRow> programs =
        Aggregations.byProgram(processes, p -> growth.getOrDefault(p, 0.0));
    return render(
        "overview.jte", new OverviewView(live, Units.bytes(total), programs, sort, lines));
  }

  // ---------------------------------------------------------------- process page

  /** A stack as the page shows it. */
  public record StackView(
      StackRow s,
      String bytes,
      String age,
      String score,
      String change,
      String sizes,
      Optional<ReleaseHints.Hint> hint) {}

  /** An allocator row: its share of the outstanding bytes and its largest sizes. */
  public record AllocatorView(AllocatorRow a, String bytes, Bar share, String chunks) {}

  public record RegionView(String kind, String committed, String reserved) {}

  /**
   * The page's own style and script, inlined in a page that stands alone (a report file opened from
   * disk), with the Content-Security-Policy that allows exactly them by their hashes.
   */
  public record Assets(String css, String js, String csp) {}

  private static final Assets INLINE = inlineAssets();

  private static Assets inlineAssets() {
    String css = new String(asset("leakwatch.css").orElseThrow(), StandardCharsets.UTF_8);
    String js = new String(asset("leakwatch.js").orElseThrow(), StandardCharsets.UTF_8);
    if (js.contains("</") || css.contains("</"))
      throw new IllegalStateException("asset would close its element");
    return new Assets(
        css,
        js,
        "default-src 'none'; style-src '"
            + sha256(css)
            + "'; script-src '"
            + sha256(js)
            + "'; img-src data:; base-uri 'none'; form-action 'none'");
  }

  private static String sha256(String s) {
    try {
      return "sha256-"
          + Base64.getEncoder()
              .encodeToString(
                  MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * One of the pages' static files (leakwatch.css, leakwatch.js, favicon.svg), served under
   * /static.
   */
  public static Optional<byte[]> asset(String name) {
    if (!name.matches("[a-z]+\\.(css|js|svg)")) return Optional.empty();
    try (InputStream in = ReportPage.class.getResourceAsStream("static/" + name)) {
      return in == null ? Optional.empty() : Optional.of(in.readAllBytes());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public record ProcessView(
      ProcessReport r,
      String query,
      String outstanding,
      String sampleEvery,
      String trackedFor,
      List<String> warnings,
      List<String> counters,
      String openFds,
      String fragmentation,
      List<RegionView> regions,
      List<AllocatorView> allocators,
      String flameJson,
      List<StackView> stacks,
      String windowsNote,
      List<Integer> diffMinutes,
      Assets inline) {}

  /**
   * The process page as a file that stands alone: style, script and data inline, no links to a
   * server that is not there (what {@code run --report html} writes).
   */
  public static String standalone(ProcessReport r) {
    return standalone(r, null);
  }

  /** As {@link #standalone(ProcessReport)}, saying what the windows of {@code history} are. */
  public static String standalone(ProcessReport r, History history) {
    return process(r, history, INLINE);
  }

  public static String process(ProcessReport r, History history) {
    return process(r, history, null);
  }

  private static String process(ProcessReport r, History history, Assets inline) {
    String query = "host=" + url(r.process().host()) + "&pid=" + r.process().pid();
    long outstanding = r.outstanding().bytes();
    Counters c = r.counters();
    List<String> counters = new ArrayList<>();
    for (Long v :
        new Long[] {c.privateBytes(), c.virtualBytes(), c.residentBytes(), c.managedHeapBytes()}) {
      counters.add(v == null ? "-" : Units.bytes(v));
    }
    String fragmentation =
        c.heapFragmentationRatio() == null
            ? "-"
            : String.format(
                Locale.ROOT,
                "%.0f%% of %s free",
                100 * c.heapFragmentationRatio(),
                Units.bytes(c.heapArenaBytes() == null ? 0 : c.heapArenaBytes()));
    List<RegionView> regions = new ArrayList<>();
    if (c.regions() != null) {
      c.regions().entrySet().stream()
          .sorted(
              Comparator.comparingLong(
                  (Map.Entry<String, Counters.Region> e) -> -orZero(e.getValue().committedBytes())))
          .forEach(
              e ->
                  regions.add(
                      new RegionView(
                          e.getKey(),
                          Units.bytes(orZero(e.getValue().committedBytes())),
                          Units.bytes(orZero(e.getValue().reservedBytes())))));
    }
    // DebugDiag's top allocating modules, and per module the allocation sizes
    Map<String, List<SizeRow>> sizes = Aggregations.sizesByAllocator(r);
    List<AllocatorView> allocators = new ArrayList<>();
    for (AllocatorRow a : r.allocators()) {
      List<String> chunks = new ArrayList<>();
      for (SizeRow z : sizes.getOrDefault(a.module(), List.of()).stream().limit(3).toList()) {
        chunks.add(Units.bytes(z.bytes()) + " in " + z.size() + "-byte chunks");
      }
      allocators.add(
          new AllocatorView(
              a,
              Units.bytes(a.bytes()),
              shareBar(outstanding > 0 ? (double) a.bytes() / outstanding : 0),
              String.join("; ", chunks)));
    }
    Map<String, History.StackAt> before = Map.of();
    if (history != null) {
      var snaps = history.snapshots(Keys.process(r.process().host(), r.process().pid()));
      if (snaps.size() > 1) before = snaps.get(0).stacks();
    }
    List<StackView> stacks = new ArrayList<>();
    for (StackRow s : r.stacks().stream().limit(25).toList()) {
      History.StackAt then = before.get(s.id());
      StringBuilder z = new StringBuilder();
      for (SizeRow size : s.sizes().stream().limit(5).toList())
        z.append(size.size()).append(" B × ").append(size.allocations()).append("; ");
      stacks.add(
          new StackView(
              s,
              Units.bytes(s.bytes()),
              Units.duration(s.oldestAgeSeconds()),
              s.score() == null ? null : String.format(Locale.ROOT, "%.2f", s.score()),
              then == null ? null : Units.signedBytes(s.bytes() - then.bytes()),
              z.toString(),
              ReleaseHints.forStack(s)));
    }
    return render(
        "process.jte",
        new ProcessView(
            r,
            query,
            Units.bytes(outstanding),
            r.tracking().sampleBytes() > 0 ? Units.bytes(r.tracking().sampleBytes()) : null,
            Units.duration(r.tracking().seconds()),
            Caveats.of(r),
            counters,
            c.openFds() == null ? "-" : String.valueOf(c.openFds()),
            fragmentation,
            regions,
            allocators,
            ReportJson.write(FlameTree.of(r)),
            stacks,
            windowsNote(history == null ? null : history.windows()),
            (history == null ? History.Windows.FLEET_DEFAULTS : history.windows()).diffMinutes(),
            inline));
  }

  /**
   * What the page's leak scores and changes are measured over on this instance, as it really is (a
   * local session's windows are seconds, a fleet's minutes).
   */
  static String windowsNote(History.Windows w) {
    String score =
        "Leak score (0 to 1): the share of the last "
            + LeakScore.WINDOWS
            + " trend windows"
            + (w == null ? "" : " of " + Units.duration(w.trendWindowMs() / 1000.0))
            + " in which the stack's bytes grew, times the share of what it holds that was"
            + " allocated in the older half of that time (doubled, at most 1); shown once "
            + LeakScore.MIN_WINDOWS
            + " windows are seen.";
    if (w == null) return score;
    return score
        + " Changes are against this page's oldest snapshot of the stack: one every "
        + Units.duration(w.snapshotIntervalMs() / 1000.0)
        + ", the last "
        + Units.duration(w.keptMs() / 1000.0)
        + " kept, in memory (a restarted instance starts again).";
  }

  // ---------------------------------------------------------------- diff

  /**
   * @param diff null: no earlier snapshot of the process on this instance
   */
  public record DiffView(
      ProcessReport now,
      String query,
      String from,
      String to,
      String span,
      ReportDiff diff,
      List<DiffLine> lines) {}

  public record DiffLine(ReportDiff.Change change, String before, String after, String delta) {}

  public static String diff(ProcessReport now, History.Snapshot then, long nowMs) {
    String query = "host=" + url(now.process().host()) + "&pid=" + now.process().pid();
    if (then == null)
      return render("diff.jte", new DiffView(now, query, null, null, null, null, List.of()));
    ReportDiff d = ReportDiff.between(then, now);
    List<DiffLine> lines =
        d.changes().stream()
            .map(
                ch ->
                    new DiffLine(
                        ch,
                        Units.bytes(ch.before()),
                        Units.bytes(ch.after()),
                        Units.signedBytes(ch.delta()) + (ch.before() == 0 ? " (new)" : "")))
            .toList();
    return render(
        "diff.jte",
        new DiffView(
            now,
            query,
            Instant.ofEpochMilli(then.atMs()).toString(),
            Instant.ofEpochMilli(nowMs).toString(),
            Units.duration((nowMs - then.atMs()) / 1000.0),
            d,
            lines));
  }

  public static String notFound() {
    return render("notFound.jte", null);
  }

  // ---------------------------------------------------------------- pieces

  private static String render(String template, Object view) {
    StringOutput out = new StringOutput();
    if (view == null) PAGES.render(template, Map.of(), out);
    else PAGES.render(template, view, out);
    return out.toString();
  }

  private static long orZero(Long v) {
    return v == null ? 0 : v;
  }

  /** The points of an SVG line of outstanding bytes over the recorded points (null: too few). */
  static String sparkline(List<History.Point> pts) {
    if (pts.size() < 2) return null;
    long min = Long.MAX_VALUE, max = Long.MIN_VALUE;
    for (History.Point p : pts) {
      min = Math.min(min, p.outstandingBytes());
      max = Math.max(max, p.outstandingBytes());
    }
    double w = 120, h = 24;
    double t0 = pts.get(0).atMs(), t1 = pts.get(pts.size() - 1).atMs();
    StringBuilder b = new StringBuilder();
    for (History.Point p : pts) {
      double x = t1 > t0 ? (p.atMs() - t0) / (t1 - t0) * w : 0;
      double y =
          max > min ? h - 2 - (p.outstandingBytes() - min) / (double) (max - min) * (h - 4) : h / 2;
      b.append(String.format(Locale.ROOT, "%.1f,%.1f ", x, y));
    }
    return b.toString().trim();
  }

  /** Native versus managed (null: native only). */
  private static Bar splitBar(long nativeBytes, long managedBytes) {
    if (managedBytes < 0) return null;
    double total = Math.max(1, nativeBytes + managedBytes);
    double nw = 100 * nativeBytes / total;
    return new Bar(
        String.format(Locale.ROOT, "%.1f", nw),
        String.format(Locale.ROOT, "%.1f", 100 - nw),
        "native " + Units.bytes(nativeBytes) + ", managed " + Units.bytes(managedBytes),
        null);
  }

  private static Bar shareBar(double share) {
    return new Bar(
        String.format(Locale.ROOT, "%.1f", 100 * share),
        null,
        null,
        String.format(Locale.ROOT, "%.0f%%", 100 * share));
  }

  static String url(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }
}
