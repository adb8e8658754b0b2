package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.leakwatch.collector.Collector;
import io.leakwatch.collector.CollectorConfig;
import io.leakwatch.kafka.EmbeddedKafka;
import io.leakwatch.schemas.TopicSetup;
import io.leakwatch.streams.StreamsAppMain;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The streams-app killed with SIGKILL mid-stream and started again on the same state directory:
 * exactly-once processing aborts what the dead instance had not committed, the new one restores its
 * stores and carries on, and the outstanding totals are exact (nothing lost, nothing counted
 * twice).
 */
class StreamsRestartTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP = HttpClient.newHttpClient();

  @TempDir Path tmp;

  private Process startStreams(String bootstrap, Path stateDir, int port) throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    return new ProcessBuilder(
            java,
            "-Xmx512m",
            "-cp",
            System.getProperty("java.class.path"),
            StreamsAppMain.class.getName(),
            "--bootstrap",
            bootstrap,
            "--http-port",
            Integer.toString(port),
            "--state-dir",
            stateDir.toString())
        .redirectErrorStream(true)
        .redirectOutput(tmp.resolve("streams-" + System.nanoTime() + ".log").toFile())
        .start();
  }

  private static JsonNode report(int port, String host, long pid) {
    try {
      HttpResponse<String> r =
          HTTP.send(
              HttpRequest.newBuilder(
                      URI.create(
                          "http://127.0.0.1:" + port + "/api/report?host=" + host + "&pid=" + pid))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      return r.statusCode() == 200 ? JSON.readTree(r.body()) : null;
    } catch (Exception e) {
      return null; // not up yet
    }
  }

  @Test
  void sigkilledStreamsAppRestartsExact() throws Exception {
    Path runDir = Files.createDirectories(tmp.resolve("rings"));
    Path stateDir = tmp.resolve("streams-state");
    int port = freePort();
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      TopicSetup.ensureTopics(Map.of("bootstrap.servers", kafka.bootstrapServers()), 4, (short) 1);
      Process streams = startStreams(kafka.bootstrapServers(), stateDir, port);
      Process restarted = null;
      try (Collector collector =
          new Collector(
                  CollectorConfig.defaults(kafka.bootstrapServers())
                      .withRunDir(runDir)
                      .withHttpPort(0))
              .start()) {
        long up = System.currentTimeMillis() + 120_000;
        while (!healthy(port) && System.currentTimeMillis() < up) Thread.sleep(200);
        Process service = Targets.demo(runDir, 20, 1500).start();
        Thread.sleep(6_000); // events flowing through the first instance
        new ProcessBuilder("kill", "-KILL", Long.toString(streams.pid())).start().waitFor();
        assertThat(streams.waitFor(10, TimeUnit.SECONDS)).isTrue();
        Thread.sleep(3_000); // the collector keeps publishing; nobody consumes
        restarted = startStreams(kafka.bootstrapServers(), stateDir, port);

        long leaked = Targets.leakedKeys(service);

        String host = CollectorConfig.localHostName();
        JsonNode r =
            Targets.awaitExitReport(
                () -> java.util.Optional.ofNullable(report(port, host, service.pid())), 180_000);
        assertThat(r).as("exit report from the restarted instance").isNotNull();
        long keyBytes = Targets.bytesOfStacksCalling(r, "verify_signature");
        System.out.println(
            "streams restart: leaked " + leaked + " keys; tracking " + r.path("tracking"));
        assertThat(r.path("tracking").path("lostEvents").asLong()).isZero();
        assertThat(keyBytes).as("nothing lost, nothing counted twice").isEqualTo(leaked * 422);
        assertThat(Targets.outstandingOutsideCLibrary(r)).isEqualTo(leaked * 422);
      } finally {
        streams.destroyForcibly();
        if (restarted != null) {
          restarted.destroy();
          restarted.waitFor(30, TimeUnit.SECONDS);
        }
      }
    }
  }

  private static boolean healthy(int port) {
    try {
      return HTTP.send(
                  HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/readyz"))
                      .build(),
                  HttpResponse.BodyHandlers.ofString())
              .statusCode()
          == 200;
    } catch (Exception e) {
      return false;
    }
  }

  private static int freePort() throws Exception {
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      return s.getLocalPort();
    }
  }
}
