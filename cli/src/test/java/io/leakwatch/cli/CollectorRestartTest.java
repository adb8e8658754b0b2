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
  @TempDir Path tmp;

  private Process startCollector(String bootstrap, Path runDir) throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    return new ProcessBuilder(
            java,
            "-Xmx256m",
            "-cp",
            System.getProperty("java.class.path"),
            CollectorMain.class.getName(),
            "--bootstrap",
            bootstrap,
            "--http-port",
            "0",
            "--run-dir",
            runDir.toString())
        .redirectErrorStream(true)
        .redirectOutput(tmp.resolve("collector-" + System.nanoTime() + ".log").toFile())
        .start();
  }

  @Test
  void sigkilledCollectorLosesNothingAndDuplicatesNothing() throws Exception {
    killAndRestart(false);
  }

  /**
   * The collector is down while the service exits: the shim keeps the ring (a collector has read
   * from it), and the next collector names the rest of its frames from the module table its
   * predecessor saved (the process and its /proc/PID/maps are gone).
   */
  @Test
  void serviceExitingWhileTheCollectorIsDownLosesNothing() throws Exception {
    killAndRestart(true);
  }

  private static boolean known(StreamsApp streams, String host, long pid) {
    try {
      return streams.reports().report(host, (int) pid).isPresent();
    } catch (RuntimeException e) {
      return false; // a store still restoring
    }
  }

  private void killAndRestart(boolean restartAfterExit) throws Exception {
    Path runDir = Files.createDirectories(tmp.resolve("rings"));
    try (EmbeddedKafka kafka = EmbeddedKafka.start();
        StreamsApp streams =
            new StreamsApp(
                    StreamsAppConfig.defaults(kafka.bootstrapServers(), tmp.resolve("streams"))
                        .withHttpPort(-1))
                .start(Duration.ofMinutes(2))) {
      Process collector = startCollector(kafka.bootstrapServers(), runDir);
      Process service =
          Targets.demo(runDir, 7, 1500)
              .start(); // exact: the report must match the program's own count

      // events flowing: the first collector has published some (the streams-app knows the process)
      String host = CollectorConfig.localHostName();
      long flowing = System.currentTimeMillis() + 60_000;
      while (System.currentTimeMillis() < flowing && !known(streams, host, service.pid()))
        Thread.sleep(100);
      assertThat(known(streams, host, service.pid())).as("the first collector published").isTrue();
      Thread.sleep(500);
      new ProcessBuilder("kill", "-KILL", Long.toString(collector.pid())).start().waitFor();
      assertThat(collector.waitFor(10, TimeUnit.SECONDS)).isTrue();
      long leakedBeforeRestart = restartAfterExit ? Targets.leakedKeys(service) : -1;
      if (!restartAfterExit) Thread.sleep(1500); // the service keeps allocating; the ring holds it
      try (var files = Files.list(runDir)) {
        for (Path f : files.sorted().toList()) {
          String pos = "";
          if (f.getFileName().toString().endsWith(".ring")) {
            try (var ch = java.nio.channels.FileChannel.open(f)) {
              var b =
                  ch.map(java.nio.channels.FileChannel.MapMode.READ_ONLY, 0, 4096)
                      .order(java.nio.ByteOrder.LITTLE_ENDIAN);
              pos = " write_pos " + b.getLong(64) + " read_pos " + b.getLong(128);
            }
          }
          System.out.println("collector restart: before the restart: " + f.getFileName() + pos);
        }
      }
      Process restarted = startCollector(kafka.bootstrapServers(), runDir);
      try {
        long leaked = restartAfterExit ? leakedBeforeRestart : Targets.leakedKeys(service);

        JsonNode report =
            Targets.awaitExitReport(
                () -> streams.reports().report(host, (int) service.pid()).map(Targets::json),
                90_000);
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
        if (keys != leaked) {
          for (JsonNode s : report.path("stacks")) {
            System.out.println(
                "  stack "
                    + s.path("allocations").asLong()
                    + " allocations, "
                    + s.path("bytes").asLong()
                    + " B: "
                    + s.path("frames"));
          }
        }
        assertThat(t.path("lostEvents").asLong()).isZero();
        assertThat(keys).as("nothing lost, nothing counted twice").isEqualTo(leaked);
        assertThat(keyBytes).isEqualTo(leaked * 422);
        assertThat(Targets.outstandingOutsideCLibrary(report))
            .as("and nothing else outstanding")
            .isEqualTo(leaked * 422);
      } catch (AssertionError e) {
        try (var logs = Files.list(tmp)) {
          for (Path log :
              logs.filter(f -> f.getFileName().toString().startsWith("collector-"))
                  .sorted()
                  .toList()) {
            List<String> lines = Files.readAllLines(log);
            System.out.println(
                "--- " + log.getFileName() + " (last 40 of " + lines.size() + " lines)");
            lines
                .subList(Math.max(0, lines.size() - 40), lines.size())
                .forEach(System.out::println);
          }
        }
        throw e;
      } finally {
        restarted.destroy();
        restarted.waitFor(10, TimeUnit.SECONDS);
        service.destroyForcibly();
      }
    }
  }
}
