package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.leakwatch.collector.CollectorConfig;
import io.leakwatch.collector.CollectorMain;
import io.leakwatch.kafka.EmbeddedKafka;
import io.leakwatch.streams.StreamsApp;
import io.leakwatch.streams.StreamsAppConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The collector killed with SIGKILL mid-stream and started again: the ring kept everything it had
 * not released, the new collector resumes at the ring's read position, and the duplicates it
 * re-sends are dropped by sequence number, so the outstanding totals are exact.
 */
class CollectorRestartTest {
  @TempDir
  Path tmp;

  private Process startCollector(String bootstrap, Path runDir) throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    return new ProcessBuilder(java, "-Xmx256m", "-cp", System.getProperty("java.class.path"), CollectorMain.class.getName(),
        "--bootstrap", bootstrap, "--http-port", "0", "--run-dir", runDir.toString())
        .redirectErrorStream(true).redirectOutput(tmp.resolve("collector-" + System.nanoTime() + ".log").toFile()).start();
  }

  @Test
  void sigkilledCollectorLosesNothingAndDuplicatesNothing() throws Exception {
    Path runDir = Files.createDirectories(tmp.resolve("rings"));
    try (EmbeddedKafka kafka = EmbeddedKafka.start();
         StreamsApp streams = new StreamsApp(StreamsAppConfig.defaults(kafka.bootstrapServers(), tmp.resolve("streams"))
             .withHttpPort(-1)).start(Duration.ofMinutes(2))) {
      Process collector = startCollector(kafka.bootstrapServers(), runDir);
      Process service = Targets.demo(runDir, 7, 1500).start(); // exact: the report must match the program's own count

      Thread.sleep(3000); // events flowing
      new ProcessBuilder("kill", "-KILL", Long.toString(collector.pid())).start().waitFor();
      assertThat(collector.waitFor(10, TimeUnit.SECONDS)).isTrue();
      Thread.sleep(1500); // the service keeps allocating; the ring holds it
      Process restarted = startCollector(kafka.bootstrapServers(), runDir);
      try {
        long leaked = Targets.leakedKeys(service);

        String host = CollectorConfig.localHostName();
        JsonNode report = Targets.awaitExitReport(() -> streams.reports().report(host, (int) service.pid()), 90_000);
        assertThat(report).as("exit report").isNotNull();
        JsonNode t = report.path("tracking");
        System.out.println("collector restart: leaked " + leaked + " keys; tracking " + t);
        long keys = 0, keyBytes = 0;
        for (JsonNode s : report.path("stacks")) {
          if (s.path("frames").toString().contains("\"verify_signature\"")) {
            keys += s.path("allocations").asLong();
            keyBytes += s.path("bytes").asLong();
          }
        }
        assertThat(t.path("lostEvents").asLong()).isZero();
        assertThat(keys).as("nothing lost, nothing counted twice").isEqualTo(leaked);
        assertThat(keyBytes).isEqualTo(leaked * 422);
        assertThat(Targets.outstandingOutsideCLibrary(report)).as("and nothing else outstanding").isEqualTo(leaked * 422);
      } finally {
        restarted.destroy();
        restarted.waitFor(10, TimeUnit.SECONDS);
        service.destroyForcibly();
      }
    }
  }
}
