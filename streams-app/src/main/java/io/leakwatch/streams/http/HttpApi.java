package io.leakwatch.streams.http;

import com.sun.net.httpserver.HttpExchange;
import io.leakwatch.streams.health.InstanceHealth;
import io.leakwatch.streams.metrics.LeakMetrics;
import io.leakwatch.streams.query.QueryService;
import io.leakwatch.streams.render.ReportFormat;
import io.leakwatch.streams.render.ReportPage;
import io.leakwatch.streams.report.History;
import io.leakwatch.streams.report.ReportBuilder;
import io.leakwatch.streams.report.ReportService;
import io.leakwatch.streams.report.model.ProcessReport;
import io.leakwatch.streams.report.model.ProcessSummary;
import io.leakwatch.streams.report.model.ReportJson;
import io.leakwatch.streams.stores.Keys;
import io.leakwatch.web.WebConfig;
import io.leakwatch.web.WebServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Predicate;
import java.util.function.Supplier;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.errors.InvalidStateStoreException;
import org.apache.kafka.streams.state.HostInfo;

/**
 * The streams-app's HTTP surface: /metrics, health, the report API and the report pages, one small
 * handler per route. Parameters are validated (bad ones get 400 with the reason); which instance
 * answers is the {@link QueryService}'s business, how a report looks the renderers'.
 */
public final class HttpApi implements AutoCloseable {
  /**
   * @param webConfig the web configuration file (TLS, basic auth, roles), null for plain HTTP
   * @param state the Kafka Streams state's name, for health
   * @param history null: no diff page data
   * @param queries which instance answers (a local-only one without peers)
   */
  public record Options(
      String bind,
      int port,
      Path webConfig,
      ReportService reports,
      LeakMetrics metrics,
      Supplier<String> state,
      History history,
      QueryService queries) {}

  private static final Map<String, String> STATIC =
      Map.of(
          "/static/leakwatch.css",
          "text/css; charset=utf-8",
          "/static/leakwatch.js",
          "text/javascript; charset=utf-8",
          "/static/favicon.svg",
          "image/svg+xml");

  /** A request: the exchange and its parsed query. */
  private record Request(HttpExchange ex, Map<String, String> q) {
    boolean local() {
      return "true".equals(q.get("local"));
    }
  }

  private interface Route {
    void handle(Request r) throws IOException;
  }

  private final WebServer server;
  private final Supplier<String> state;
  private final LeakMetrics metrics;
  private final History history;
  private final QueryService queries;
  private final Map<String, Route> routes =
      Map.ofEntries(
          Map.entry("/metrics", this::metrics),
          Map.entry("/favicon.ico", HttpApi::favicon),
          Map.entry("/healthz", health(InstanceHealth::live)),
          Map.entry("/readyz", health(InstanceHealth::ready)),
          Map.entry("/api/processes", this::processes),
          Map.entry("/api/fleet", this::fleet),
          Map.entry("/api/report", this::report),
          Map.entry("/", this::overview),
          Map.entry("/process", this::processPage),
          Map.entry("/diff", this::diff));

  public HttpApi(Options o) {
    this.state = o.state();
    this.metrics = o.metrics();
    this.history = o.history();
    this.queries = o.queries() != null ? o.queries() : new QueryService(o.reports(), null);
    server =
        WebServer.create(
                new WebServer.Options(o.bind(), o.port(), o.webConfig(), 16, "streams-app"))
            .route("/", this::handle)
            .start();
  }

  /** The web configuration in force (TLS, users, roles, how to call peers). */
  public WebConfig webConfig() {
    return server.config();
  }

  public int port() {
    return server.port();
  }

  static final class BadRequest extends RuntimeException {
    BadRequest(String message) {
      super(message);
    }
  }

  /** Method check, routing, and the one place where failures become status codes. */
  private void handle(HttpExchange ex) throws IOException {
    try {
      if (!"GET".equals(ex.getRequestMethod()) && !"HEAD".equals(ex.getRequestMethod())) {
        send(ex, 405, "text/plain", "only GET\n");
        return;
      }
      Request r = new Request(ex, query(ex.getRequestURI().getRawQuery()));
      routes.getOrDefault(ex.getRequestURI().getPath(), HttpApi::staticFile).handle(r);
    } catch (BadRequest e) {
      send(
          ex,
          400,
          "application/json",
          "{\"error\":" + ReportBuilder.JSON.writeValueAsString(e.getMessage()) + "}");
    } catch (InvalidStateStoreException e) {
      send(
          ex,
          503,
          "application/json",
          "{\"error\":\"state is being restored or rebalanced; try again\"}");
    } catch (RuntimeException e) {
      send(
          ex,
          500,
          "application/json",
          "{\"error\":" + ReportBuilder.JSON.writeValueAsString(e.toString()) + "}");
    } finally {
      ex.close(); // after the catch blocks, so that they can still answer
    }
  }

  private void metrics(Request r) throws IOException {
    send(r.ex(), 200, "text/plain; version=0.0.4; charset=utf-8", metrics.scrape());
  }

  private static void favicon(Request r) throws IOException {
    r.ex().getResponseHeaders().set("Location", "/static/favicon.svg");
    send(r.ex(), 301, "text/plain", "");
  }

  /**
   * Liveness (/healthz: restart me if not; rebalancing or restoring is alive) or readiness
   * (/readyz: route to me), with the Kafka Streams state as the body.
   */
  private Route health(Predicate<KafkaStreams.State> ok) {
    return r -> {
      String s = state.get();
      send(r.ex(), ok.test(KafkaStreams.State.valueOf(s)) ? 200 : 503, "text/plain", s + "\n");
    };
  }

  private void processes(Request r) throws IOException {
    send(r.ex(), 200, "application/json", ReportJson.bytes(queries.processes(r.local())));
  }

  private void fleet(Request r) throws IOException {
    String program = r.q().get("process");
    if (program == null || program.isEmpty() || program.length() > 255)
      throw new BadRequest("process (1-255 characters) is required");
    send(r.ex(), 200, "application/json", ReportJson.bytes(queries.fleet(program, r.local())));
  }

  private void report(Request r) throws IOException {
    ReportFormat format =
        ReportFormat.parse(r.q().getOrDefault("format", "json"))
            .orElseThrow(() -> new BadRequest("format must be " + ReportFormat.choices()));
    Optional<ProcessReport> report = find(r);
    HttpExchange ex = r.ex();
    if (report.isEmpty()) {
      send(ex, 404, "application/json", "{\"error\":\"no such process\"}");
      return;
    }
    if (format == ReportFormat.PPROF) {
      ex.getResponseHeaders()
          .set(
              "Content-Disposition",
              "attachment; filename=\"" + fileName(report.get()) + ".pb.gz\"");
    }
    if (format == ReportFormat.HTML)
      ex.getResponseHeaders().set("Content-Security-Policy", ReportPage.CSP);
    send(
        ex,
        200,
        format.contentType(),
        format.render(report.get(), history, "true".equals(r.q().get("standalone"))));
  }

  private void overview(Request r) throws IOException {
    String sort = r.q().getOrDefault("sort", "bytes");
    if (!sort.equals("bytes") && !sort.equals("growth"))
      throw new BadRequest("sort must be bytes or growth");
    html(r.ex(), 200, ReportPage.overview(queries.processes(false), history, sort));
  }

  private void processPage(Request r) throws IOException {
    Optional<ProcessReport> report = find(r);
    if (report.isEmpty()) html(r.ex(), 404, ReportPage.notFound());
    else html(r.ex(), 200, ReportPage.process(report.get(), history));
  }

  /**
   * What a process holds now against what it held some minutes ago (the history lives with its
   * owner).
   */
  private void diff(Request r) throws IOException {
    int m;
    try {
      m = Integer.parseInt(r.q().getOrDefault("minutes", "15"));
    } catch (NumberFormatException e) {
      throw new BadRequest("minutes must be a whole number from 1 to 1440");
    }
    if (m < 1 || m > 1440) throw new BadRequest("minutes must be a whole number from 1 to 1440");
    Optional<Target> t = target(r);
    Optional<HostInfo> owner = t.flatMap(x -> queries.remoteOwner(x.host(), x.pid(), r.local()));
    if (owner.isPresent()) {
      var resp =
          queries.forward(
              owner.get(),
              "/diff?host="
                  + QueryService.encode(t.get().host())
                  + "&pid="
                  + t.get().pid()
                  + "&minutes="
                  + m
                  + "&local=true");
      html(r.ex(), resp.statusCode(), new String(resp.body(), StandardCharsets.UTF_8));
      return;
    }
    Optional<ProcessReport> report = t.flatMap(x -> queries.localReport(x.host(), x.pid()));
    if (report.isEmpty()) {
      html(r.ex(), 404, ReportPage.notFound());
      return;
    }
    long now = System.currentTimeMillis();
    var then =
        history == null
            ? Optional.<History.Snapshot>empty()
            : history.snapshotAt(Keys.process(t.get().host(), t.get().pid()), now - m * 60_000L);
    html(r.ex(), 200, ReportPage.diff(report.get(), then.orElse(null), now));
  }

  private static void staticFile(Request r) throws IOException {
    String path = r.ex().getRequestURI().getPath();
    String type = STATIC.get(path);
    Optional<byte[]> body =
        type == null ? Optional.empty() : ReportPage.asset(path.substring("/static/".length()));
    if (body.isEmpty()) {
      send(r.ex(), 404, "text/plain", "not found\n");
      return;
    }
    r.ex().getResponseHeaders().set("Cache-Control", "max-age=300");
    send(r.ex(), 200, type, body.get());
  }

  /** The process a request names, and its report from whichever instance owns it. */
  private Optional<ProcessReport> find(Request r) {
    return target(r).flatMap(t -> queries.report(t.host(), t.pid(), r.local()));
  }

  private record Target(String host, int pid) {}

  /**
   * The process a request names (host and pid, or a process name, or the largest of all), without
   * fetching its report: the diff page only needs to know whom to ask.
   */
  private Optional<Target> target(Request r) {
    Map<String, String> q = r.q();
    String host = q.get("host");
    String pid = q.get("pid");
    String process = q.get("process");
    if (host != null && (host.isEmpty() || host.length() > 255))
      throw new BadRequest("host must be 1-255 characters");
    if (pid != null) {
      if (host == null) throw new BadRequest("pid needs host");
      int p;
      try {
        p = Integer.parseInt(pid);
      } catch (NumberFormatException e) {
        throw new BadRequest("pid must be a positive integer");
      }
      if (p <= 0) throw new BadRequest("pid must be a positive integer");
      return Optional.of(new Target(host, p));
    }
    if (process != null) {
      if (process.isEmpty() || process.length() > 255)
        throw new BadRequest("process must be 1-255 characters");
      return ReportService.largestByName(queries.processes(r.local()), host, process)
          .map(x -> new Target(x.host(), x.pid()));
    }
    if (host != null) throw new BadRequest("host needs pid or process");
    List<ProcessSummary> all = queries.processes(r.local());
    if (all.isEmpty()) return Optional.empty();
    return Optional.of(new Target(all.get(0).host(), all.get(0).pid()));
  }

  static Map<String, String> query(String raw) {
    Map<String, String> q = new HashMap<>();
    if (raw == null || raw.isEmpty()) return q;
    if (raw.length() > 4096) throw new BadRequest("query too long");
    for (String part : raw.split("&")) {
      if (part.isEmpty()) continue;
      int eq = part.indexOf('=');
      String k, v;
      try {
        k = URLDecoder.decode(eq < 0 ? part : part.substring(0, eq), StandardCharsets.UTF_8);
        v = eq < 0 ? "" : URLDecoder.decode(part.substring(eq + 1), StandardCharsets.UTF_8);
      } catch (IllegalArgumentException e) {
        throw new BadRequest("malformed query string");
      }
      if (q.putIfAbsent(k, v) != null) throw new BadRequest("parameter " + k + " given twice");
    }
    return q;
  }

  /** A download name from the process's name and pid, reduced to safe characters. */
  static String fileName(ProcessReport report) {
    String name =
        (report.process().name() == null ? "process" : report.process().name())
            .replaceAll("[^A-Za-z0-9._-]", "_");
    if (name.length() > 64) name = name.substring(0, 64);
    return "leakwatch-" + name + "-" + report.process().pid();
  }

  private static void html(HttpExchange ex, int status, String page) throws IOException {
    ex.getResponseHeaders().set("Content-Security-Policy", ReportPage.CSP);
    send(ex, status, "text/html; charset=utf-8", page);
  }

  private static void send(HttpExchange ex, int status, String type, String body)
      throws IOException {
    send(ex, status, type, body.getBytes(StandardCharsets.UTF_8));
  }

  private static void send(HttpExchange ex, int status, String type, byte[] bytes)
      throws IOException {
    ex.getResponseHeaders().set("Content-Type", type);
    ex.getResponseHeaders().set("X-Content-Type-Options", "nosniff");
    if ("HEAD".equals(ex.getRequestMethod())) {
      ex.sendResponseHeaders(status, -1);
      return;
    }
    ex.sendResponseHeaders(status, bytes.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(bytes);
    }
  }

  @Override
  public void close() {
    server.close();
  }
}
