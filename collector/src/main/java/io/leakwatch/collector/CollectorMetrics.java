package io.leakwatch.collector;

import com.sun.net.httpserver.HttpExchange;
import io.leakwatch.collector.symbols.DebugFiles;
import io.leakwatch.collector.symbols.SourceLines;
import io.leakwatch.web.WebServer;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The collector's own health on /metrics (127.0.0.1 unless configured otherwise): what it read,
 * published and lost.
 */
public final class CollectorMetrics implements AutoCloseable {
  private final PrometheusMeterRegistry registry =
      new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final Counter read;
  private final Counter published;
  private final Counter publishFailures;
  private WebServer server;

  CollectorMetrics(Collector collector) {
    read =
        Counter.builder("leakwatch.collector.events.read")
            .description("events read from rings")
            .register(registry);
    published =
        Counter.builder("leakwatch.collector.events.published")
            .description("events acknowledged by Kafka")
            .register(registry);
    publishFailures =
        Counter.builder("leakwatch.collector.publish.failures")
            .description("rounds Kafka did not acknowledge (records stay in the rings)")
            .register(registry);
    Gauge.builder("leakwatch.collector.processes.followed", collector, Collector::followed)
        .description("rings being followed")
        .register(registry);
    Gauge.builder("leakwatch.collector.ring.max.fill.ratio", collector, Collector::maxRingFill)
        .description("fullest ring, 0..1")
        .register(registry);
    FunctionCounter.builder(
            "leakwatch.collector.symbol.cache.hits", collector, c -> c.symbolizer().cacheHits())
        .register(registry);
    FunctionCounter.builder(
            "leakwatch.collector.symbol.cache.misses", collector, c -> c.symbolizer().cacheMisses())
        .register(registry);
    Gauge.builder(
            "leakwatch.collector.source.lines.pending.stacks",
            collector,
            c ->
                c.symbolizer().sourceLines() == null
                    ? 0
                    : c.symbolizer().sourceLines().pendingStacks())
        .description("stacks published without file and line, waiting for them")
        .register(registry);
    new JvmMemoryMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
  }

  /**
   * Counts call sites given file and line, by where the debug info came from, and call sites left
   * as {@code module!function+0xoffset}, by reason (no_debug_info, debug_file_mismatch,
   * debuginfod_timeout, symbolizer_crashed, ...).
   */
  SourceLines.Listener sourceLineListener() {
    return new SourceLines.Listener() {
      @Override
      public void resolved(DebugFiles.Source source, int sites) {
        Counter.builder("leakwatch.collector.source.lines.resolved")
            .description("call sites given file and line, by where the debug info came from")
            .tag("source", source.name().toLowerCase(Locale.ROOT))
            .register(registry)
            .increment(sites);
      }

      @Override
      public void failed(String reason, int sites) {
        Counter.builder("leakwatch.collector.source.lines.failures")
            .description("call sites left without file and line, by reason")
            .tag("reason", reason)
            .register(registry)
            .increment(sites);
      }
    };
  }

  void eventsRead(long n) {
    read.increment(n);
  }

  void eventsPublished(long n) {
    published.increment(n);
  }

  void publishFailed() {
    publishFailures.increment();
  }

  public String scrape() {
    return registry.scrape();
  }

  /** /metrics, and /healthz (live) and /readyz (ready) as {@link CollectorHealth} says. */
  void serve(String bind, int port, Path webConfig, CollectorHealth health) {
    server =
        WebServer.create(new WebServer.Options(bind, port, webConfig, 4, "collector"))
            .route(
                "/metrics",
                ex -> send(ex, 200, "text/plain; version=0.0.4; charset=utf-8", scrape()))
            .route(
                "/healthz",
                ex ->
                    send(
                        ex,
                        health.live() ? 200 : 503,
                        "text/plain",
                        health.live() ? "live\n" : health.readiness() + "\n"))
            .route(
                "/readyz",
                ex -> send(ex, health.ready() ? 200 : 503, "text/plain", health.readiness() + "\n"))
            .start();
  }

  private static void send(HttpExchange ex, int status, String type, String text)
      throws IOException {
    try (ex) {
      if (!ex.getRequestMethod().equals("GET") && !ex.getRequestMethod().equals("HEAD")) {
        ex.sendResponseHeaders(405, -1);
        return;
      }
      byte[] body = text.getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().set("Content-Type", type);
      if (ex.getRequestMethod().equals("HEAD")) {
        ex.sendResponseHeaders(status, -1);
        return;
      }
      ex.sendResponseHeaders(status, body.length);
      try (OutputStream out = ex.getResponseBody()) {
        out.write(body);
      }
    }
  }

  @Override
  public void close() {
    if (server != null) server.close();
  }
}
