package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The dashboards are templates any Grafana can import (through its UI or by provisioning): no
 * datasource uid of ours, no host name of ours, links that encode what they substitute, and units
 * that say what the numbers are. DashboardQueriesTest runs every query against a real Prometheus.
 */
class DashboardTemplatesTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path DASHBOARDS =
      Path.of("..").toAbsolutePath().normalize().resolve("grafana/dashboards");

  /** A variable in a link: ${name} or ${name:format}; __field labels too. */
  private static final Pattern VARIABLE = Pattern.compile("\\$\\{([\\w.]+)(?::(\\w+))?}");

  static Stream<Path> dashboards() throws Exception {
    try (var files = Files.list(DASHBOARDS)) {
      return files.filter(f -> f.toString().endsWith(".json")).sorted().toList().stream();
    }
  }

  private static void collect(JsonNode node, String key, List<JsonNode> out) {
    if (node.isObject()) {
      node.fields()
          .forEachRemaining(
              e -> {
                if (e.getKey().equals(key)) out.add(e.getValue());
                collect(e.getValue(), key, out);
              });
    } else if (node.isArray()) {
      node.forEach(n -> collect(n, key, out));
    }
  }

  @ParameterizedTest
  @MethodSource("dashboards")
  void theDatasourceIsAVariable(Path file) throws Exception {
    JsonNode dash = JSON.readTree(file.toFile());
    JsonNode first = dash.path("templating").path("list").path(0);
    assertThat(first.path("name").asText()).isEqualTo("datasource");
    assertThat(first.path("type").asText()).isEqualTo("datasource");
    assertThat(first.path("query").asText()).isEqualTo("prometheus");
    List<JsonNode> refs = new ArrayList<>();
    collect(dash, "datasource", refs);
    for (JsonNode ref : refs) {
      if (!ref.isObject()) continue;
      assertThat(ref.path("uid").asText())
          .as(file.getFileName() + " datasource " + ref)
          .isEqualTo("${datasource}");
    }
    assertThat(dash.has("__inputs"))
        .as("no import-time inputs: the variable chooses the datasource")
        .isFalse();
  }

  @ParameterizedTest
  @MethodSource("dashboards")
  void linksEncodeWhatTheySubstituteAndNameNoHostOfOurs(Path file) throws Exception {
    JsonNode dash = JSON.readTree(file.toFile());
    List<JsonNode> links = new ArrayList<>();
    collect(dash.path("panels"), "links", links);
    for (JsonNode list : links) {
      for (JsonNode link : list) {
        String url = link.path("url").asText();
        assertThat(url)
            .as(file.getFileName() + " link")
            .doesNotContain("localhost")
            .doesNotContain("127.0.0.1");
        Matcher m = VARIABLE.matcher(url);
        while (m.find()) {
          boolean base =
              m.start() == 0 && m.group(1).equals("report_url"); // a URL prefix, not a value
          if (!base) {
            assertThat(m.group(2))
                .as(url + ": " + m.group() + " inside a URL must be :percentencode or :queryparam")
                .isIn("percentencode", "queryparam");
          }
        }
      }
    }
    // The only place our default report address may appear: the textbox variable's default.
    String text = Files.readString(file);
    int defaults = 0;
    for (JsonNode v : dash.path("templating").path("list")) {
      if (v.path("name").asText().equals("report_url")) {
        assertThat(v.path("type").asText()).isEqualTo("textbox");
        defaults = 3; // query, current.text, current.value
      }
    }
    assertThat(text.split("localhost", -1).length - 1)
        .as("localhost outside report_url's default")
        .isEqualTo(defaults);
  }

  @ParameterizedTest
  @MethodSource("dashboards")
  void unitsSayWhatTheNumbersAre(Path file) throws Exception {
    JsonNode dash = JSON.readTree(file.toFile());
    for (JsonNode p : dash.path("panels")) {
      String unit = p.path("fieldConfig").path("defaults").path("unit").asText();
      for (JsonNode t : p.path("targets")) {
        String expr = t.path("expr").asText();
        String title = file.getFileName() + " " + p.path("title").asText();
        if (expr.contains("leak_suspect_score")) {
          assertThat(unit)
              .as(title + ": a score from 0 to 1 is not a percentage")
              .isEqualTo("none");
          assertThat(p.path("fieldConfig").path("defaults").path("max").asDouble()).isEqualTo(1.0);
        } else if (expr.matches(".*_ratio\\b.*")) {
          assertThat(unit).as(title).isEqualTo("percentunit");
        } else if (expr.contains("deriv")) {
          assertThat(unit).as(title).isEqualTo("Bps");
        } else if (expr.matches(".*_bytes\\b.*") && !expr.contains("count(")) {
          assertThat(unit).as(title).isEqualTo("bytes");
        }
      }
    }
  }

  @ParameterizedTest
  @MethodSource("dashboards")
  void fleetPanelsReadTheRecordedSeriesThatSurviveRebalances(Path file) throws Exception {
    if (!file.getFileName().toString().equals("leakwatch-fleet.json")) return;
    JsonNode dash = JSON.readTree(file.toFile());
    for (JsonNode p : dash.path("panels")) {
      for (JsonNode t : p.path("targets")) {
        String expr = t.path("expr").asText();
        assertThat(expr)
            .as("fleet panels use leakwatch: recorded series, not raw per-instance ones")
            .doesNotContain("leakwatch_outstanding_bytes")
            .doesNotContain("deriv(");
      }
    }
  }
}
