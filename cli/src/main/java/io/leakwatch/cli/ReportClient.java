package io.leakwatch.cli;

import io.leakwatch.streams.report.model.ProcessReport;
import io.leakwatch.streams.report.model.ReportJson;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.function.Predicate;

/** Reads reports from a running streams-app's API. */
final class ReportClient {
  private final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private final String base;

  ReportClient(String url) {
    this.base = url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
  }

  record Response(int status, String body) {}

  Response get(String path) throws IOException, InterruptedException {
    HttpRequest req =
        HttpRequest.newBuilder(URI.create(base + path))
            .timeout(Duration.ofSeconds(30))
            .GET()
            .build();
    HttpResponse<String> r = http.send(req, HttpResponse.BodyHandlers.ofString());
    return new Response(r.statusCode(), r.body());
  }

  /** The raw bytes of a response (pprof profiles are binary). */
  byte[] getBytes(String path, int[] status) throws IOException, InterruptedException {
    HttpRequest req =
        HttpRequest.newBuilder(URI.create(base + path))
            .timeout(Duration.ofSeconds(30))
            .GET()
            .build();
    HttpResponse<byte[]> r = http.send(req, HttpResponse.BodyHandlers.ofByteArray());
    status[0] = r.statusCode();
    return r.body();
  }

  static String query(String host, Integer pid, String process, String format) {
    StringBuilder q = new StringBuilder("?format=").append(format);
    if (host != null) q.append("&host=").append(URLEncoder.encode(host, StandardCharsets.UTF_8));
    if (pid != null) q.append("&pid=").append(pid);
    if (process != null)
      q.append("&process=").append(URLEncoder.encode(process, StandardCharsets.UTF_8));
    return q.toString();
  }

  /** Waits until the streams-app has processed the exit of host/pid and named every stack. */
  ProcessReport awaitExitReport(
      String host, int pid, Duration timeout, Predicate<ProcessReport> isFinal)
      throws IOException, InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      try {
        Response r = get("/api/report" + query(host, pid, null, "json"));
        if (r.status() == 200) {
          ProcessReport n = ReportJson.read(r.body(), ProcessReport.class);
          if (isFinal.test(n)) return n;
        }
      } catch (IOException | UncheckedIOException e) {
        if (System.nanoTime() > deadline) throw e;
      }
      if (System.nanoTime() > deadline)
        throw new IOException("no exit report for " + host + "/" + pid + " after " + timeout);
      Thread.sleep(200);
    }
  }
}
