package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.leakwatch.web.PrometheusServer;
import java.io.File;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every Grafana panel's query, executed by a real Prometheus (Debian's package) that scrapes a real
 * streams-app and collector fed by a real tracked run of the demo service, must return data.
 * Template variables are substituted with the run's host and process; variable queries
 * (label_values) must return values too.
 */
class DashboardQueriesTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path REPO = Path.of("..").toAbsolutePath().normalize();
  private static final HttpClient HTTP = HttpClient.newHttpClient();

  @TempDir Path tmp;

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private static boolean onPath(String tool) {
    for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
      if (Files.isExecutable(Path.of(dir, tool))) return true;
    }
    return false;
  }

  @Test
  void everyPanelReturnsData() throws Exception {
    boolean present = onPath("prometheus");
    assertThat(present)
        .as(
            "prometheus is not installed: ./run-tests installs it (apt-get install prometheus); this test is never skipped")
        .isTrue();
    int streamsPort = freePort(), collectorPort = freePort();
    try (LocalStack stack =
        LocalStack.start(
            LocalStack.Options.headless()
                .withHttpPort(streamsPort)
                .withCollectorPort(collectorPort))) {
      ProcessBuilder demo =
          new ProcessBuilder(Home.demoService().toString(), "120", "2000")
              .redirectErrorStream(true)
              .redirectOutput(ProcessBuilder.Redirect.DISCARD);
      demo.environment().put("LD_PRELOAD", Home.agent().toString());
      demo.environment().put("LEAKWATCH_RUN_DIR", stack.runDir.toString());
      demo.environment().put("LEAKWATCH_SAMPLE_BYTES", "65536");
      Process service = demo.start();

      Path config = tmp.resolve("prometheus.yml");
      // The shipped recording rules, evaluated every 2 s instead of every minute (the panels read
      // recorded series; the expressions are the shipped ones).
      Path recording = tmp.resolve("leakwatch-recording.yml");
      Files.writeString(
          recording,
          Files.readString(REPO.resolve("prometheus/rules/leakwatch-recording.yml"))
              .replace("interval: 1m", "interval: 2s"));
      Files.writeString(
          config,
          "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
              + "rule_files:\n  - "
              + recording
              + "\n  - "
              + REPO.resolve("prometheus/rules/leakwatch-alerts.yml")
              + "\n"
              + "scrape_configs:\n  - job_name: leakwatch-streams\n    static_configs:\n      - targets: ['127.0.0.1:"
              + streamsPort
              + "']\n  - job_name: leakwatch-collector\n    static_configs:\n      - targets: ['127.0.0.1:"
              + collectorPort
              + "']\n");
      PrometheusServer prometheus = PrometheusServer.start(config, tmp);
      int promPort = prometheus.port();
      try {
        long deadline = System.currentTimeMillis() + 90_000;
        boolean ready = false;
        while (!ready && System.currentTimeMillis() < deadline) {
          Thread.sleep(1000);
          try {
            JsonNode r =
                DashboardQueries.query(
                    promPort,
                    "count(leakwatch_process_private_bytes) and count(leakwatch_collector_events_read_total)"
                        + " and count(leakwatch_heap_fragmentation_ratio)");
            ready = r.path("data").path("result").size() > 0;
          } catch (java.io.IOException notYet) {
            // Prometheus still starting
          }
        }
        assertThat(ready)
            .as("Prometheus scraped the streams-app and the collector; log:\n" + prometheus.log())
            .isTrue();
        // Both daemons alive and ready (the collector: its last round was acknowledged by Kafka).
        for (int port : new int[] {collectorPort, streamsPort}) {
          for (String path : new String[] {"/healthz", "/readyz"}) {
            HttpResponse<String> r =
                HTTP.send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(port + path + ": " + r.body()).isEqualTo(200);
          }
        }
        Thread.sleep(6000); // a few more scrapes, so rates and slopes have points
        // The leak score needs three trend windows (10 s each in local mode) and a stack snapshot.
        long scoreDeadline = System.currentTimeMillis() + 120_000;
        while (System.currentTimeMillis() < scoreDeadline
            && DashboardQueries.query(
                        promPort,
                        "count(leakwatch_leak_suspect_score) and count(leakwatch:outstanding_bytes:deriv1h)")
                    .path("data")
                    .path("result")
                    .size()
                == 0) {
          Thread.sleep(1000);
        }

        List<String> failures = DashboardQueries.withoutData(promPort, stack.host, "leaky-service");
        assertThat(failures).as("panels without data").isEmpty();
      } finally {
        prometheus.close();
        service.destroy();
        service.waitFor(10, TimeUnit.SECONDS);
      }
    }
  }
}
