package io.leakwatch.streams.http;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.leakwatch.streams.metrics.LeakMetrics;
import io.leakwatch.streams.report.ReportBuilder;
import io.leakwatch.streams.report.ReportService;
import io.leakwatch.streams.report.TextReport;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.function.Supplier;
import org.apache.kafka.streams.errors.InvalidStateStoreException;

/**
 * The streams-app's HTTP surface: /metrics, the report API and a plain report page. Parameters are
 * validated (bad ones get 400 with the reason), and everything a page shows is HTML-escaped:
 * symbol and process names are text from others' binaries.
 */
public final class HttpApi implements AutoCloseable {
  private final HttpServer server;
  private final ReportService reports;
  private final LeakMetrics metrics;
  private final Supplier<String> state;
  private final io.leakwatch.streams.report.History history;
  private static final Map<String, String> STATIC = Map.of("/static/leakwatch.css", "text/css; charset=utf-8",
      "/static/leakwatch.js", "text/javascript; charset=utf-8", "/static/favicon.svg", "image/svg+xml");

  public HttpApi(String bind, int port, ReportService reports, LeakMetrics metrics, Supplier<String> state) {
    this(bind, port, reports, metrics, state, null);
  }

  public HttpApi(String bind, int port, ReportService reports, LeakMetrics metrics, Supplier<String> state,
      io.leakwatch.streams.report.History history) {
    this(bind, port, reports, metrics, state, history, null);
  }

  private final Peers peers;

  /** @param peers the other instances, null when this one answers alone (tests) */
  public HttpApi(String bind, int port, ReportService reports, LeakMetrics metrics, Supplier<String> state,
      io.leakwatch.streams.report.History history, Peers peers) {
    this.peers = peers;
    this.history = history;
    this.reports = reports;
    this.metrics = metrics;
    this.state = state;
    try {
      server = HttpServer.create(new InetSocketAddress(bind, port), 64);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot listen on " + bind + ":" + port, e);
    }
    server.setExecutor(Executors.newFixedThreadPool(4, r -> {
      Thread t = new Thread(r, "leakwatch-http");
      t.setDaemon(true);
      return t;
    }));
    server.createContext("/", this::handle);
    server.start();
  }

  public int port() {
    return server.getAddress().getPort();
  }

  static final class BadRequest extends RuntimeException {
    BadRequest(String message) {
      super(message);
    }
  }

  private void handle(HttpExchange ex) throws IOException {
    try {
      if (!"GET".equals(ex.getRequestMethod()) && !"HEAD".equals(ex.getRequestMethod())) {
        send(ex, 405, "text/plain", "only GET\n");
        return;
      }
      Map<String, String> q = query(ex.getRequestURI().getRawQuery());
      String path = ex.getRequestURI().getPath();
      switch (path) {
        case "/metrics" -> send(ex, 200, "text/plain; version=0.0.4; charset=utf-8", metrics.scrape());
        case "/favicon.ico" -> {
          ex.getResponseHeaders().set("Location", "/static/favicon.svg");
          send(ex, 301, "text/plain", "");
        }
        // liveness (restart me if not) and readiness (route to me): rebalancing or restoring is alive
        case "/healthz" -> send(ex, io.leakwatch.streams.health.InstanceHealth.live(org.apache.kafka.streams.KafkaStreams.State.valueOf(state.get())) ? 200 : 503,
            "text/plain", state.get() + "\n");
        case "/readyz" -> send(ex, io.leakwatch.streams.health.InstanceHealth.ready(org.apache.kafka.streams.KafkaStreams.State.valueOf(state.get())) ? 200 : 503,
            "text/plain", state.get() + "\n");
        case "/api/processes" -> {
          ArrayNode a = ReportBuilder.JSON.createArrayNode();
          processes(local(q)).forEach(a::add);
          send(ex, 200, "application/json", a.toString());
        }
        case "/api/fleet" -> {
          String program = q.get("process");
          if (program == null || program.isEmpty() || program.length() > 255) throw new BadRequest("process (1-255 characters) is required");
          send(ex, 200, "application/json", fleet(program, local(q)).toString());
        }
        case "/api/report" -> {
          String format = q.getOrDefault("format", "json");
          if (!List.of("json", "text", "html", "pprof").contains(format)) throw new BadRequest("format must be json, text, html or pprof");
          Optional<ObjectNode> r = find(q);
          if (r.isEmpty()) {
            send(ex, 404, "application/json", "{\"error\":\"no such process\"}");
          } else {
            switch (format) {
              case "text" -> send(ex, 200, "text/plain; charset=utf-8", TextReport.render(r.get()));
              case "html" -> html(ex, 200, ReportPage.process(r.get(), history));
              case "pprof" -> {
                ex.getResponseHeaders().set("Content-Disposition", "attachment; filename=\"" + fileName(r.get()) + ".pb.gz\"");
                send(ex, 200, "application/octet-stream", io.leakwatch.streams.export.PprofProfile.of(r.get()));
              }
              default -> send(ex, 200, "application/json", r.get().toString());
            }
          }
        }
        case "/" -> {
          String sort = q.getOrDefault("sort", "bytes");
          if (!sort.equals("bytes") && !sort.equals("growth")) throw new BadRequest("sort must be bytes or growth");
          html(ex, 200, ReportPage.overview(processes(false), history, sort));
        }
        case "/process" -> {
          Optional<ObjectNode> r = find(q);
          if (r.isEmpty()) html(ex, 404, ReportPage.notFound());
          else html(ex, 200, ReportPage.process(r.get(), history));
        }
        case "/diff" -> {
          String minutes = q.getOrDefault("minutes", "15");
          int m;
          try {
            m = Integer.parseInt(minutes);
          } catch (NumberFormatException e) {
            throw new BadRequest("minutes must be a whole number from 1 to 1440");
          }
          if (m < 1 || m > 1440) throw new BadRequest("minutes must be a whole number from 1 to 1440");
          Optional<Target> t = target(q);
          Optional<org.apache.kafka.streams.state.HostInfo> owner = t.isEmpty() || local(q) || peers == null ? Optional.empty()
              : peers.remoteOwner(io.leakwatch.streams.stores.StoreNames.PROCESSES, t.get().host() + "/" + t.get().pid());
          if (owner.isPresent()) {
            // The history behind a diff lives with the process's owner: ask it for the page.
            String pq = "/diff?host=" + java.net.URLEncoder.encode(t.get().host(), StandardCharsets.UTF_8) + "&pid=" + t.get().pid()
                + "&minutes=" + m + "&local=true";
            var resp = peers.get(owner.get(), pq);
            html(ex, resp.statusCode(), new String(resp.body(), StandardCharsets.UTF_8));
          } else {
            Optional<ObjectNode> r = t.flatMap(x -> reports.report(x.host(), x.pid()));
            if (r.isEmpty()) {
              html(ex, 404, ReportPage.notFound());
            } else {
              long now = System.currentTimeMillis();
              var then = history == null ? Optional.<io.leakwatch.streams.report.History.Snapshot>empty()
                  : history.snapshotAt(t.get().host() + "/" + t.get().pid(), now - m * 60_000L);
              html(ex, 200, ReportPage.diff(r.get(), then.orElse(null), now));
            }
          }
        }
        default -> {
          String type = STATIC.get(path);
          if (type == null) {
            send(ex, 404, "text/plain", "not found\n");
          } else {
            try (var in = HttpApi.class.getResourceAsStream(path.substring(1))) {
              ex.getResponseHeaders().set("Cache-Control", "max-age=300");
              send(ex, 200, type, in.readAllBytes());
            }
          }
        }
      }
    } catch (BadRequest e) {
      send(ex, 400, "application/json", "{\"error\":" + ReportBuilder.JSON.writeValueAsString(e.getMessage()) + "}");
    } catch (InvalidStateStoreException e) {
      send(ex, 503, "application/json", "{\"error\":\"state is being restored or rebalanced; try again\"}");
    } catch (RuntimeException e) {
      send(ex, 500, "application/json", "{\"error\":" + ReportBuilder.JSON.writeValueAsString(e.toString()) + "}");
    } finally {
      ex.close(); // after the catch blocks, so that they can still answer
    }
  }

  /** The process a request names, and its report from whichever instance owns it. */
  private Optional<ObjectNode> find(Map<String, String> q) {
    return target(q).flatMap(t -> report(t.host(), t.pid(), local(q)));
  }

  private record Target(String host, int pid) {}

  /**
   * The process a request names (host and pid, or a process name, or the largest of all), without
   * fetching its report: the diff page only needs to know whom to ask.
   */
  private Optional<Target> target(Map<String, String> q) {
    String host = q.get("host");
    String pid = q.get("pid");
    String process = q.get("process");
    if (host != null && (host.isEmpty() || host.length() > 255)) throw new BadRequest("host must be 1-255 characters");
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
      if (process.isEmpty() || process.length() > 255) throw new BadRequest("process must be 1-255 characters");
      return ReportService.largestByName(processes(local(q)), host, process)
          .map(x -> new Target(x.get("host").asText(), x.get("pid").asInt()));
    }
    if (host != null) throw new BadRequest("host needs pid or process");
    List<ObjectNode> all = processes(local(q));
    if (all.isEmpty()) return Optional.empty();
    return Optional.of(new Target(all.get(0).get("host").asText(), all.get(0).get("pid").asInt()));
  }

  private static boolean local(Map<String, String> q) {
    return "true".equals(q.get("local"));
  }

  /** A process's report from whichever instance owns it. */
  private Optional<ObjectNode> report(String host, int pid, boolean localOnly) {
    if (!localOnly && peers != null) {
      Optional<org.apache.kafka.streams.state.HostInfo> owner =
          peers.remoteOwner(io.leakwatch.streams.stores.StoreNames.PROCESSES, host + "/" + pid);
      if (owner.isPresent()) {
        try {
          var resp = peers.get(owner.get(), "/api/report?host=" + java.net.URLEncoder.encode(host, StandardCharsets.UTF_8) + "&pid=" + pid
              + "&local=true");
          if (resp.statusCode() == 404) return Optional.empty();
          if (resp.statusCode() != 200) throw new InvalidStateStoreException("owner " + owner.get() + " answered " + resp.statusCode());
          return Optional.of((ObjectNode) ReportBuilder.JSON.readTree(resp.body()));
        } catch (IOException e) {
          throw new InvalidStateStoreException("owner " + owner.get() + " unreachable: " + e.getMessage());
        }
      }
    }
    return reports.report(host, pid);
  }

  /** Every instance's processes (or this one's), largest first. */
  private List<ObjectNode> processes(boolean localOnly) {
    List<ObjectNode> all = new java.util.ArrayList<>(reports.processes());
    if (!localOnly && peers != null) {
      for (var peer : peers.others()) {
        try {
          var resp = peers.get(peer, "/api/processes?local=true");
          if (resp.statusCode() != 200) continue; // restoring: its share shows up on the next look
          for (var n : ReportBuilder.JSON.readTree(resp.body())) all.add((ObjectNode) n);
        } catch (IOException e) {
          // an unreachable peer's processes are missing until it answers again
        }
      }
      all.sort(java.util.Comparator.comparingLong((ObjectNode p) -> -p.get("outstandingBytes").asLong()));
    }
    return all;
  }

  /** One program across the fleet: this instance's processes of that name, merged with the others' roll-ups. */
  private ObjectNode fleet(String program, boolean localOnly) throws IOException {
    io.leakwatch.streams.report.FleetRollup rollup = new io.leakwatch.streams.report.FleetRollup(program);
    for (ObjectNode p : reports.processes()) {
      if (p.get("exited").asBoolean() || !p.get("name").asText().equals(program)) continue;
      reports.report(p.get("host").asText(), p.get("pid").asInt()).ifPresent(rollup::addReport);
    }
    if (!localOnly && peers != null) {
      for (var peer : peers.others()) {
        var resp = peers.get(peer, "/api/fleet?process=" + java.net.URLEncoder.encode(program, StandardCharsets.UTF_8) + "&local=true");
        if (resp.statusCode() == 200) rollup.addRollup(ReportBuilder.JSON.readTree(resp.body()));
      }
    }
    return rollup.toJson();
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
  static String fileName(ObjectNode report) {
    String name = report.path("process").path("name").asText("process").replaceAll("[^A-Za-z0-9._-]", "_");
    if (name.length() > 64) name = name.substring(0, 64);
    return "leakwatch-" + name + "-" + report.path("process").path("pid").asInt();
  }

  private static void html(HttpExchange ex, int status, String page) throws IOException {
    ex.getResponseHeaders().set("Content-Security-Policy", ReportPage.CSP);
    send(ex, status, "text/html; charset=utf-8", page);
  }

  private static void send(HttpExchange ex, int status, String type, String body) throws IOException {
    send(ex, status, type, body.getBytes(StandardCharsets.UTF_8));
  }

  private static void send(HttpExchange ex, int status, String type, byte[] bytes) throws IOException {
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
    server.stop(0);
  }
}
