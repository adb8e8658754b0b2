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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two streams-app instances (their own JVMs) share the partitions of one real broker: either one
 * answers for every process (forwarding to the owner) with the same report; their /metrics summed
 * count each process once; one killed with SIGKILL mid-stream and started again leaves the totals
 * exact.
 */
class MultiInstanceTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private static final Pattern HOSTILE =
      Pattern.compile(
          "(?m)^leakwatch_outstanding_bytes\\{[^}]*process=\"hostile-names\"[^}]*} ([0-9.eE+]+)$");

  @TempDir Path tmp;

  private Process instance(String bootstrap, String name, int port) throws Exception {
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
            tmp.resolve("state-" + name).toString())
        .redirectErrorStream(true)
        .redirectOutput(tmp.resolve(name + "-" + System.nanoTime() + ".log").toFile())
        .start();
  }

  private static HttpResponse<String> get(int port, String path) {
    try {
      return HTTP.send(
          HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
          HttpResponse.BodyHandlers.ofString());
    } catch (Exception e) {
      return null;
    }
  }

  private static void awaitHealthy(int port) throws Exception {
    long deadline = System.currentTimeMillis() + 180_000;
    while (System.currentTimeMillis() < deadline) {
      HttpResponse<String> r = get(port, "/readyz");
      if (r != null && r.statusCode() == 200) return;
      Thread.sleep(250);
    }
    throw new AssertionError("instance on " + port + " not healthy");
  }

  private static JsonNode exitReport(int port, String host, long pid) throws Exception {
    long deadline = System.currentTimeMillis() + 180_000;
    while (System.currentTimeMillis() < deadline) {
      HttpResponse<String> r = get(port, "/api/report?host=" + host + "&pid=" + pid);
      if (r != null && r.statusCode() == 200) {
        JsonNode n = JSON.readTree(r.body());
        if (n.path("process").path("exited").asBoolean() && n.path("stacksResolved").asBoolean())
          return n;
      }
      Thread.sleep(250);
    }
    throw new AssertionError("no exit report for pid " + pid + " from " + port);
  }

  /** Sum over both instances of the hostile-names process's outstanding bytes, once both answer. */
  private static double summedHostile(int a, int b) {
    double sum = 0;
    for (int port : new int[] {a, b}) {
      HttpResponse<String> r = get(port, "/metrics");
      if (r == null || r.statusCode() != 200) return -1;
      Matcher m = HOSTILE.matcher(r.body());
      while (m.find()) sum += Double.parseDouble(m.group(1));
    }
    return sum;
  }

  /**
   * The exit reports of {@code pid} from both instances, read again until they agree (or for a
   * minute). Source lines reach each instance as a second definition of a stack a moment after its
   * names, so two reports read a few milliseconds apart may differ only in that.
   */
  private static JsonNode[] exitReports(int portA, int portB, String host, long pid)
      throws Exception {
    long deadline = System.currentTimeMillis() + 60_000;
    while (true) {
      JsonNode fromA = exitReport(portA, host, pid);
      JsonNode fromB = exitReport(portB, host, pid);
      if (fromA.equals(fromB) || System.currentTimeMillis() > deadline)
        return new JsonNode[] {fromA, fromB};
      Thread.sleep(250);
    }
  }

  private static double awaitSummedHostile(int a, int b, double expected) throws Exception {
    long deadline = System.currentTimeMillis() + 120_000;
    double last = -1;
    while (System.currentTimeMillis() < deadline) {
      last = summedHostile(a, b);
      if (last == expected) return last;
      Thread.sleep(500);
    }
    return last;
  }

  @Test
  void eitherInstanceAnswersTheSameAndASigkilledOneComesBackExact() throws Exception {
    Path runDir = Files.createDirectories(tmp.resolve("rings"));
    int portA = freePort(), portB = freePort();
    String host = CollectorConfig.localHostName();
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      TopicSetup.ensureTopics(Map.of("bootstrap.servers", kafka.bootstrapServers()), 4, (short) 1);
      Process a = instance(kafka.bootstrapServers(), "a", portA);
      Process b = instance(kafka.bootstrapServers(), "b", portB);
      Process restarted = null;
      List<Process> targets = new ArrayList<>();
      try (Collector collector =
          new Collector(
                  CollectorConfig.defaults(kafka.bootstrapServers())
                      .withRunDir(runDir)
                      .withHttpPort(0))
              .start()) {
        awaitHealthy(portA);
        awaitHealthy(portB);
        // A steady process (40 x 1000 bytes held for a minute) and short exact runs spread over the
        // partitions.
        Process steady =
            tracked(runDir, Home.nativeDir().resolve("hostile-names").toString(), "90");
        targets.add(steady);
        List<Process> shortRuns = new ArrayList<>();
        for (int i = 1;
            i <= 10;
            i++) { // ten keys over 4 partitions: both instances own some (all on one side: 1 in
          // 2,000)
          Process p =
              tracked(
                  runDir,
                  Home.nativeDir().resolve("churn").toString(),
                  "-t",
                  "1",
                  "-p",
                  "2000",
                  "-n",
                  Integer.toString(10 * i),
                  "-s",
                  "100",
                  "-k",
                  "0");
          assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
          shortRuns.add(p);
        }
        Process service = tracked(runDir, Home.demoService().toString(), "25", "800");
        targets.add(service);

        // The same report from either instance, whoever owns the process.
        for (int i = 0; i < shortRuns.size(); i++) {
          long pid = shortRuns.get(i).pid();
          JsonNode[] reports = exitReports(portA, portB, host, pid);
          JsonNode fromA = reports[0], fromB = reports[1];
          assertThat(fromB).isEqualTo(fromA);
          assertThat(Targets.bytesOfStacksCalling(fromA, "leak_blocks"))
              .isEqualTo(10L * (i + 1) * 100);
        }
        JsonNode processesA = JSON.readTree(get(portA, "/api/processes").body());
        JsonNode processesB = JSON.readTree(get(portB, "/api/processes").body());
        assertThat(processesA.size()).isEqualTo(processesB.size()).isGreaterThanOrEqualTo(12);
        int ownA = JSON.readTree(get(portA, "/api/processes?local=true").body()).size();
        int ownB = JSON.readTree(get(portB, "/api/processes?local=true").body()).size();
        System.out.println("multi-instance: instance a owns " + ownA + " processes, b " + ownB);
        assertThat(ownA)
            .as("the partitions are shared: each instance owns some processes")
            .isPositive();
        assertThat(ownB).isPositive();
        assertThat(ownA + ownB).isEqualTo(processesA.size());
        // Exited processes leave the roll-up of what runs now; the steady one is there from either
        // side.
        JsonNode fleetA = JSON.readTree(get(portA, "/api/fleet?process=hostile-names").body());
        assertThat(JSON.readTree(get(portB, "/api/fleet?process=hostile-names").body()))
            .isEqualTo(fleetA);
        assertThat(fleetA.path("outstanding").path("bytes").asLong()).isEqualTo(40_000);
        assertThat(fleetA.path("hosts").asInt()).isEqualTo(1);
        // Metrics: the two instances together count the steady process once.
        assertThat(awaitSummedHostile(portA, portB, 40_000)).isEqualTo(40_000);

        new ProcessBuilder("kill", "-KILL", Long.toString(b.pid())).start().waitFor();
        assertThat(b.waitFor(10, TimeUnit.SECONDS)).isTrue();
        System.out.println("multi-instance: instance b killed");
        Thread.sleep(3_000);
        restarted = instance(kafka.bootstrapServers(), "b", portB);
        awaitHealthy(portB);

        long leaked = Targets.leakedKeys(service);
        JsonNode[] reports = exitReports(portA, portB, host, service.pid());
        JsonNode fromA = reports[0], fromB = reports[1];
        System.out.println(
            "multi-instance: leaked " + leaked + " keys; tracking " + fromA.path("tracking"));
        assertThat(fromB).isEqualTo(fromA);
        assertThat(fromA.path("tracking").path("lostEvents").asLong()).isZero();
        assertThat(Targets.outstandingOutsideCLibrary(fromA))
            .as("exact through the kill")
            .isEqualTo(leaked * 422);
        assertThat(awaitSummedHostile(portA, portB, 40_000))
            .as("still counted once after the rebalance")
            .isEqualTo(40_000);
      } finally {
        for (Process p : targets) p.destroyForcibly();
        a.destroy();
        b.destroyForcibly();
        if (restarted != null) restarted.destroy();
        a.waitFor(30, TimeUnit.SECONDS);
        if (restarted != null) restarted.waitFor(30, TimeUnit.SECONDS);
      }
    }
  }

  private static Process tracked(Path runDir, String... command) throws Exception {
    return Targets.tracked(runDir, command).start();
  }

  private static int freePort() throws Exception {
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      return s.getLocalPort();
    }
  }
}
