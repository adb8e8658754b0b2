package io.leakwatch.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Every Grafana panel's query and every query variable of the shipped dashboards, run against a
 * real Prometheus with the dashboards' host and process variables set: what returns nothing, or
 * fails.
 */
final class DashboardQueries {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private static final Path DASHBOARDS =
      Path.of("..").toAbsolutePath().normalize().resolve("grafana/dashboards");
  private static final Pattern LABEL_VALUES = Pattern.compile("label_values\\((.*),\\s*(\\w+)\\)");

  private DashboardQueries() {}

  static JsonNode query(int promPort, String expr) throws Exception {
    String url =
        "http://127.0.0.1:"
            + promPort
            + "/api/v1/query?query="
            + URLEncoder.encode(expr, StandardCharsets.UTF_8);
    return JSON.readTree(
        HTTP.send(
                HttpRequest.newBuilder(URI.create(url)).build(),
                HttpResponse.BodyHandlers.ofString())
            .body());
  }

  private static String substitute(String expr, String host, String process) {
    return expr.replace("$host", host)
        .replace("$process", process)
        .replace("$__rate_interval", "1m");
  }

  /**
   * The panels and variables without data (or whose query failed); prints one line for each
   * checked.
   */
  static List<String> withoutData(int promPort, String host, String process) throws Exception {
    List<String> failures = new ArrayList<>();
    int panels = 0;
    try (var files = Files.list(DASHBOARDS)) {
      for (Path f : files.sorted().toList()) {
        JsonNode dash = JSON.readTree(f.toFile());
        for (JsonNode v : dash.path("templating").path("list")) {
          if (!v.path("type").asText().equals("query"))
            continue; // the datasource and the report URL
          Matcher m = LABEL_VALUES.matcher(substitute(v.path("query").asText(), host, process));
          if (!m.matches()) {
            failures.add(
                f.getFileName()
                    + " variable "
                    + v.path("name").asText()
                    + ": not a label_values query");
            continue;
          }
          JsonNode r = query(promPort, "count by (" + m.group(2) + ") (" + m.group(1) + ")");
          boolean ok = r.path("data").path("result").size() > 0;
          System.out.printf(
              "%-26s variable %-10s %s%n",
              f.getFileName(), v.path("name").asText(), ok ? "values" : "EMPTY");
          if (!ok) failures.add(f.getFileName() + " variable " + v.path("name").asText());
        }
        for (JsonNode p : dash.path("panels")) {
          panels++;
          if (p.path("description").asText().isBlank())
            failures.add(f.getFileName() + ": " + p.path("title").asText() + " has no description");
          if (p.path("fieldConfig").path("defaults").path("unit").asText().isBlank())
            failures.add(f.getFileName() + ": " + p.path("title").asText() + " has no unit");
          boolean any = false;
          for (JsonNode t : p.path("targets")) {
            JsonNode r = query(promPort, substitute(t.path("expr").asText(), host, process));
            if (!r.path("status").asText().equals("success"))
              failures.add(t.path("expr").asText() + " -> " + r);
            any |= r.path("data").path("result").size() > 0;
          }
          System.out.printf(
              "%-26s panel    %-60s %s%n",
              f.getFileName(), p.path("title").asText(), any ? "data" : "NO DATA");
          if (!any) failures.add(f.getFileName() + ": " + p.path("title").asText());
        }
      }
    }
    if (panels < 15) failures.add("only " + panels + " panels");
    return failures;
  }
}
