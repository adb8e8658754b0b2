package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.leakwatch.kafka.KafkaCluster;
import io.leakwatch.web.PrometheusServer;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fleet for real, on one machine: four application hosts, a three-broker KRaft cluster and two
 * streams-app instances, each on a host of its own (network and UTS namespaces, its own address on
 * a bridge), one real Prometheus scraping every collector and streams-app through file-based
 * service discovery. The application hosts run a collector each and two tracked services that know
 * what they leaked. Faults one after another, each followed by the same check: every live host's
 * leaked bytes exact against what its services say, and Prometheus's answer per host equal to the
 * report API's. Prints the table the fleet issue asks for, and the daemons' logs of one fault.
 */
class FleetNetnsTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();
  private static final Path REPO = Path.of("..").toAbsolutePath().normalize();
  private static final List<String> APPS = List.of("app1", "app2", "app3", "app4");
  private static final int BLOCKS = 500;
  private static final int PAIRS = 20_000;

  /** Silence after which a host's processes are retired as gone; longer than the 60 s cut. */
  private static final int RETIRE_SILENT_AFTER_S = 120;

  /** How long exact totals may take to come back after a fault (see the first use). */
  private static final long RECOVERY_MS = 360_000;

  @TempDir Path tmp;

  private FleetNetwork net;
  private final List<Process> daemons = new ArrayList<>();
  private final Map<String, Process> collectors = new LinkedHashMap<>();
  private final Map<String, Process> streams = new LinkedHashMap<>();
  private final List<Service> services = new ArrayList<>();
  private final List<String> table = new ArrayList<>();

  /** A tracked service on an application host and the bytes it says it leaked. */
  private static final class Service {
    final String host;
    final long blockSize;
    final Process process;
    final AtomicLong leaked = new AtomicLong();
    final AtomicLong bursts = new AtomicLong();
    volatile boolean ready;

    Service(String host, long blockSize, Process process) {
      this.host = host;
      this.blockSize = blockSize;
      this.process = process;
      Thread reader =
          new Thread(
              () -> {
                try (BufferedReader in =
                    new BufferedReader(
                        new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                  for (String line; (line = in.readLine()) != null; ) {
                    if (line.equals("ready")) ready = true;
                    if (line.startsWith("leaked ")) {
                      leaked.set(Long.parseLong(line.substring(7).trim()));
                      bursts.incrementAndGet();
                    }
                  }
                } catch (Exception ignored) {
                  // the service is gone
                }
              },
              "service-" + process.pid());
      reader.setDaemon(true);
      reader.start();
    }

    void burst() throws Exception {
      new ProcessBuilder("kill", "-USR1", Long.toString(process.pid())).start().waitFor();
    }
  }

  private static String classpath() {
    return System.getProperty("java.class.path");
  }

  private static List<String> java(String... args) {
    List<String> c =
        new ArrayList<>(
            List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx384m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                // the daemon's logging as ./leakwatch gives it (the test classpath's
                // log4j2-test.xml would win otherwise)
                "-Dlog4j2.configurationFile=" + REPO.resolve("cli/src/main/resources/log4j2.xml"),
                "-cp",
                classpath(),
                Main.class.getName()));
    c.addAll(List.of(args));
    return c;
  }

  private Process start(String host, List<String> command, String logName) throws Exception {
    Process p =
        net.process(host, command)
            .redirectErrorStream(true)
            .redirectOutput(tmp.resolve(logName + ".log").toFile())
            .start();
    daemons.add(p);
    return p;
  }

  private String bootstrap() {
    return net.address("kafka1")
        + ":9092,"
        + net.address("kafka2")
        + ":9092,"
        + net.address("kafka3")
        + ":9092";
  }

  private Process startStreams(String host) throws Exception {
    Path kafkaConfig = tmp.resolve("streams-kafka.properties");
    // A production choice, not a test shortcut: a standby copy of each store, so the instance that
    // takes over a partition does not restore it from the changelog first.
    Files.writeString(kafkaConfig, "num.standby.replicas=1\n");
    Process p =
        start(
            host,
            java(
                "streams",
                "--bootstrap",
                bootstrap(),
                "--bind",
                net.address(host),
                "--http-port",
                "8080",
                "--state-dir",
                tmp.resolve("state-" + host).toString(),
                "--kafka-config",
                kafkaConfig.toString(),
                "--retire-silent-after",
                Integer.toString(RETIRE_SILENT_AFTER_S),
                // short trend windows, so the leak score (twelve windows) has values within the
                // test
                "--trend-window",
                "10"),
            host);
    streams.put(host, p);
    return p;
  }

  private Process startCollector(String host) throws Exception {
    Process p =
        start(
            host,
            java(
                "collector",
                "--bootstrap",
                bootstrap(),
                "--run-dir",
                tmp.resolve(host + "-rings").toString(),
                "--http-port",
                "9400",
                "--bind",
                net.address(host)),
            "collector-" + host);
    collectors.put(host, p);
    return p;
  }

  /**
   * A program on {@code host} with the shim preloaded, exact mode. The shim is preloaded by env at
   * the last exec, so the wrappers that enter the host (ip, unshare, sh, hostname) are not tracked.
   */
  private ProcessBuilder tracked(String host, String... command) {
    List<String> all = new ArrayList<>(net.on(host));
    all.addAll(
        List.of(
            "env",
            "LD_PRELOAD=" + Home.agent(),
            "LEAKWATCH_RUN_DIR=" + tmp.resolve(host + "-rings"),
            "LEAKWATCH_SAMPLE_BYTES=0"));
    all.addAll(List.of(command));
    return new ProcessBuilder(all);
  }

  private Service startService(String host, long blockSize) throws Exception {
    ProcessBuilder pb =
        tracked(
            host,
            Home.nativeDir().resolve("fleet-target").toString(),
            Long.toString(blockSize),
            Integer.toString(BLOCKS),
            Integer.toString(PAIRS));
    pb.redirectError(tmp.resolve("service-" + host + "-" + blockSize + ".err").toFile());
    Service s = new Service(host, blockSize, pb.start());
    daemons.add(s.process);
    services.add(s);
    return s;
  }

  private static HttpResponse<String> get(String url) {
    try {
      return HTTP.send(
          HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build(),
          HttpResponse.BodyHandlers.ofString());
    } catch (Exception e) {
      return null;
    }
  }

  private static long waitFor(String what, long timeoutMs, BooleanSupplier condition)
      throws Exception {
    long start = System.currentTimeMillis();
    while (!condition.getAsBoolean()) {
      if (System.currentTimeMillis() - start > timeoutMs)
        throw new AssertionError("timed out after " + timeoutMs + " ms: " + what);
      Thread.sleep(500);
    }
    return System.currentTimeMillis() - start;
  }

  private JsonNode api(String streamsHost, String path) {
    HttpResponse<String> r = get("http://" + net.address(streamsHost) + ":8080" + path);
    if (r == null || r.statusCode() != 200) return null;
    try {
      return JSON.readTree(r.body());
    } catch (Exception e) {
      return null;
    }
  }

  /**
   * What the report API says, through one instance: per host, leaked bytes (fleet_leak stacks) and
   * outstanding bytes of live processes.
   */
  private record HostView(
      Map<String, Long> leaked,
      Map<String, Long> outstanding,
      Map<String, Long> exitedLeaked,
      long lost) {}

  private HostView view(String streamsHost) {
    JsonNode processes = api(streamsHost, "/api/processes");
    if (processes == null) return null;
    Map<String, Long> leaked = new TreeMap<>(),
        outstanding = new TreeMap<>(),
        exitedLeaked = new TreeMap<>();
    long lost = 0;
    for (JsonNode p : processes) {
      if (!p.path("name").asText().equals("fleet-target")) continue;
      String host = p.path("host").asText();
      JsonNode r = api(streamsHost, "/api/report?host=" + host + "&pid=" + p.path("pid").asInt());
      if (r == null) return null;
      long bytes = 0;
      for (JsonNode s : r.path("stacks")) {
        if (s.path("frames").path(0).path("function").asText().equals("fleet_leak"))
          bytes += s.path("bytes").asLong();
      }
      lost += r.path("tracking").path("lostEvents").asLong();
      if (p.path("exited").asBoolean()) {
        exitedLeaked.merge(host, bytes, Long::sum);
      } else {
        leaked.merge(host, bytes, Long::sum);
        outstanding.merge(host, r.path("outstanding").path("bytes").asLong(), Long::sum);
      }
    }
    return new HostView(leaked, outstanding, exitedLeaked, lost);
  }

  /** What the services say they leaked, per host, for the hosts given. */
  private Map<String, Long> said(List<String> hosts) {
    Map<String, Long> m = new TreeMap<>();
    for (Service s : services)
      if (hosts.contains(s.host)) m.merge(s.host, s.leaked.get(), Long::sum);
    return m;
  }

  private int promPort;

  private Map<String, Long> prometheusByHost() {
    String q = "sum by (host) (leakwatch:outstanding_bytes{process=\"fleet-target\"})";
    HttpResponse<String> r =
        get(
            "http://127.0.0.1:"
                + promPort
                + "/api/v1/query?query="
                + URLEncoder.encode(q, StandardCharsets.UTF_8));
    Map<String, Long> m = new TreeMap<>();
    if (r == null || r.statusCode() != 200) return m;
    try {
      for (JsonNode s : JSON.readTree(r.body()).path("data").path("result")) {
        m.put(
            s.path("metric").path("host").asText(),
            Math.round(Double.parseDouble(s.path("value").path(1).asText())));
      }
    } catch (Exception e) {
      return Map.of();
    }
    return m;
  }

  /** Bursts on every live service of these hosts; waits until each has printed its new total. */
  private void burst(List<String> hosts) throws Exception {
    Map<Service, Long> before = new LinkedHashMap<>();
    for (Service s : services) {
      if (hosts.contains(s.host) && s.process.isAlive()) {
        before.put(s, s.bursts.get());
        s.burst();
      }
    }
    waitFor(
        "services finished their burst",
        60_000,
        () -> before.entrySet().stream().allMatch(e -> e.getKey().bursts.get() > e.getValue()));
  }

  /**
   * The check after each fault: the report API (through {@code via}) shows every live host's leaked
   * bytes exactly as its services say, nothing lost, and Prometheus's per-host outstanding bytes
   * equal the report API's. Returns the milliseconds until both held.
   */
  private long checkExact(String via, List<String> liveHosts, long timeoutMs) throws Exception {
    long start = System.currentTimeMillis();
    Map<String, Long> expected = said(liveHosts);
    final HostView[] last = new HostView[1];
    final int[] unanswered = new int[1];
    try {
      waitFor(
          "report API exact for " + liveHosts + " via " + via + ": expected " + expected,
          timeoutMs,
          () -> {
            HostView v = view(via);
            last[0] = v;
            if (v == null) unanswered[0]++;
            return v != null
                && v.lost() == 0
                && v.leaked().keySet().containsAll(liveHosts)
                && liveHosts.stream().allMatch(h -> expected.get(h).equals(v.leaked().get(h)));
          });
    } catch (AssertionError e) {
      // What it saw last, and how often the API did not answer, tell a slow pipeline from a wrong
      // one.
      throw new AssertionError(
          e.getMessage() + "; saw last " + last[0] + "; unanswered views " + unanswered[0], e);
    }
    final Map<String, Long>[] prom = new Map[1];
    final HostView[] seen = new HostView[1];
    try {
      waitFor(
          "Prometheus agrees with the report API",
          timeoutMs,
          () -> {
            HostView v = view(via);
            seen[0] = v;
            prom[0] = prometheusByHost();
            return v != null
                && liveHosts.stream()
                    .allMatch(
                        h ->
                            v.outstanding().get(h) != null
                                && v.outstanding().get(h).equals(prom[0].get(h)));
          });
    } catch (AssertionError e) {
      throw new AssertionError(
          e.getMessage() + "; Prometheus " + prom[0] + ", report API " + seen[0], e);
    }
    return System.currentTimeMillis() - start;
  }

  private void row(
      String fault, String pipeline, String totals, String prometheus, long recoveryMs) {
    table.add(
        String.format(
            "| %s | %s | %s | %s | %.0f s |",
            fault, pipeline, totals, prometheus, recoveryMs / 1000.0));
    System.out.println(
        table.get(table.size() - 1)); // as it goes: a later failure keeps what came before
  }

  private Process startPrometheus() throws Exception {
    Path collectorsSd = tmp.resolve("collectors.json"), streamsSd = tmp.resolve("streams.json");
    StringBuilder c = new StringBuilder();
    for (String h : APPS)
      c.append(c.length() == 0 ? "" : ",").append('"').append(net.address(h)).append(":9400\"");
    Files.writeString(collectorsSd, "[{\"targets\": [" + c + "]}]\n");
    Files.writeString(
        streamsSd,
        "[{\"targets\": [\""
            + net.address("streams1")
            + ":8080\", \""
            + net.address("streams2")
            + ":8080\"]}]\n");
    Path recording = tmp.resolve("leakwatch-recording.yml");
    Files.writeString(
        recording,
        Files.readString(REPO.resolve("prometheus/rules/leakwatch-recording.yml"))
            .replace("interval: 1m", "interval: 2s"));
    Path config = tmp.resolve("prometheus.yml");
    Files.writeString(
        config,
        "global:\n  scrape_interval: 2s\n  scrape_timeout: 1s\n  evaluation_interval: 2s\n"
            + "rule_files:\n  - "
            + recording
            + "\n  - "
            + REPO.resolve("prometheus/rules/leakwatch-alerts.yml")
            + "\n"
            + "scrape_configs:\n"
            + "  - job_name: leakwatch-collector\n    file_sd_configs:\n      - files: ['"
            + collectorsSd
            + "']\n"
            + "  - job_name: leakwatch-streams\n    file_sd_configs:\n      - files: ['"
            + streamsSd
            + "']\n");
    PrometheusServer prometheus = PrometheusServer.start(config, tmp);
    promPort = prometheus.port();
    Process p = prometheus.process();
    daemons.add(p);
    return p;
  }

  private int upTargets() {
    HttpResponse<String> r =
        get(
            "http://127.0.0.1:"
                + promPort
                + "/api/v1/query?query="
                + URLEncoder.encode("sum(up)", StandardCharsets.UTF_8));
    try {
      return r == null
          ? 0
          : (int)
              Double.parseDouble(
                  JSON.readTree(r.body())
                      .path("data")
                      .path("result")
                      .path(0)
                      .path("value")
                      .path(1)
                      .asText("0"));
    } catch (Exception e) {
      return 0;
    }
  }

  private static List<String> logLines(Path log, String... needles) throws Exception {
    return logLines(log, 0, needles);
  }

  /** The lines of {@code log} from line {@code from} on that contain one of {@code needles}. */
  private static List<String> logLines(Path log, int from, String... needles) throws Exception {
    List<String> out = new ArrayList<>();
    List<String> all = Files.readAllLines(log);
    for (String line : all.subList(Math.min(all.size(), from), all.size())) {
      for (String n : needles) {
        if (line.contains(n)) {
          out.add(line);
          break;
        }
      }
    }
    return out;
  }

  @Test
  void aFleetOfHostsSurvivesPartitionsAndLostHosts() throws Exception {
    assertThat(new ProcessBuilder("id", "-u").start().inputReader().readLine())
        .as("the multi-host test needs root for network namespaces")
        .isEqualTo("0");
    Map<String, Integer> hosts = new LinkedHashMap<>();
    for (int i = 0; i < APPS.size(); i++) hosts.put(APPS.get(i), 11 + i);
    hosts.put("kafka1", 21);
    hosts.put("kafka2", 22);
    hosts.put("kafka3", 23);
    hosts.put("streams1", 31);
    hosts.put("streams2", 32);
    net = FleetNetwork.create(hosts);
    KafkaCluster cluster = null;
    long t0 = System.currentTimeMillis();
    try {
      List<String> kafkaHosts = List.of("kafka1", "kafka2", "kafka3");
      cluster =
          KafkaCluster.start(
              kafkaHosts.stream().map(net::address).toList(), i -> net.on(kafkaHosts.get(i)));
      startStreams("streams1");
      waitFor(
          "streams1 ready",
          180_000,
          () -> {
            HttpResponse<String> r = get("http://" + net.address("streams1") + ":8080/readyz");
            return r != null && r.statusCode() == 200;
          });
      startStreams("streams2");
      for (String h : APPS) startCollector(h);
      startPrometheus();
      for (int i = 0; i < APPS.size(); i++) {
        startService(APPS.get(i), 64 + 32L * i);
        startService(APPS.get(i), 200 + 40L * i);
      }
      waitFor(
          "services ready (their signal handlers installed)",
          60_000,
          () -> services.stream().allMatch(x -> x.ready));
      waitFor(
          "streams2 ready",
          180_000,
          () -> {
            HttpResponse<String> r = get("http://" + net.address("streams2") + ":8080/readyz");
            return r != null && r.statusCode() == 200;
          });
      waitFor(
          "Prometheus scrapes 4 collectors and 2 streams-apps", 120_000, () -> upTargets() == 6);
      System.out.printf(
          "fleet up in %.0f s: 4 application hosts, 3 brokers, 2 streams-apps, Prometheus%n",
          (System.currentTimeMillis() - t0) / 1000.0);

      // Baseline: every service leaks one burst.
      burst(APPS);
      long ms = checkExact("streams1", APPS, 180_000);
      row(
          "none (baseline)",
          "every service's burst published and joined",
          "exact " + said(APPS),
          "equal",
          ms);

      // A process with 100,000 live stacks exits on app2 while the next faults run (its 100,000
      // stack definitions take minutes to move on this machine); its exit report is checked after
      // them.
      Process many =
          tracked("app2", Home.nativeDir().resolve("many-stacks").toString(), "100000", "32")
              .redirectErrorStream(true)
              .redirectOutput(ProcessBuilder.Redirect.DISCARD)
              .start();
      daemons.add(many);
      assertThat(many.waitFor(120, TimeUnit.SECONDS)).isTrue();
      long manyExitedAt = System.currentTimeMillis();

      // 1. app1 cut off for 60 s while its services keep leaking: nothing lost.
      long cutAt = System.currentTimeMillis();
      net.cut("app1");
      burst(APPS);
      Thread.sleep(Math.max(0, 60_000 - (System.currentTimeMillis() - cutAt)));
      net.reconnect("app1");
      // 6 minutes after each fault: while the 100,000-stack process's state (about 500,000
      // changelog records) is restored and moved between the instances, recovery on this 2-core VM
      // varies from 1 to over 4 minutes (runs 10-15; the streams-app's cost for it is issue 18's).
      // The table prints the time taken; exactness is what is asserted.
      ms = checkExact("streams1", APPS, RECOVERY_MS);
      row(
          "app1 cut off for 60 s, then reconnected",
          "app1's collector kept its rings and published when back",
          "exact " + said(APPS),
          "equal",
          ms);
      List<String> quoted =
          logLines(
              tmp.resolve("collector-app1.log"),
              "publish failed",
              "round failed",
              "health:",
              "following pid");

      // 2. app4 gone for good: collector and services killed, host unreachable.
      collectors.get("app4").destroyForcibly();
      for (Service s : services) if (s.host.equals("app4")) s.process.destroyForcibly();
      net.cut("app4");
      long goneAt = System.currentTimeMillis();
      Map<String, Long> app4Said = said(List.of("app4"));
      waitFor(
          "app4's processes retired as gone, exit reports kept",
          300_000,
          () -> {
            HostView v = view("streams1");
            return v != null
                && !v.leaked().containsKey("app4")
                && app4Said.get("app4").equals(v.exitedLeaked().get("app4"));
          });
      List<String> live = List.of("app1", "app2", "app3");
      burst(live);
      checkExact("streams1", live, RECOVERY_MS);
      row(
          "app4 gone for good",
          "its processes retired as gone after "
              + RETIRE_SILENT_AFTER_S
              + " s of silence, exit reports kept ("
              + app4Said.get("app4")
              + " bytes)",
          "exact " + said(live),
          "equal",
          System.currentTimeMillis() - goneAt);

      JsonNode manyReport = awaitExitReport("streams2", "app2", many.pid(), 400_000);
      assertThat(manyReport.path("stacksOmitted").asLong()).isPositive();
      long manyBytes = 0;
      for (JsonNode a : manyReport.path("allocators"))
        if (a.path("module").asText().equals("many-stacks")) manyBytes = a.path("bytes").asLong();
      assertThat(manyBytes)
          .as("the 100,000-stack exit report counts every block")
          .isEqualTo(100_000L * 32 + 100_000L * 8);
      row(
          "a process with 100,000 live stacks exited on app2 (during the two faults above)",
          "exit report bounded ("
              + manyReport.path("stacks").size()
              + " stacks whole, "
              + manyReport.path("stacksOmitted").asLong()
              + " summarized), both instances running",
          "exact (4,000,000 bytes of many-stacks)",
          "-",
          System.currentTimeMillis() - manyExitedAt);

      // 3. a broker host cut off: the cluster carries on with two.
      // Its recovery varies from about 30 s to over 2 min between runs: what the streams-apps said
      // meanwhile goes into the output (fenced producers, replaced threads, restorations).
      Map<String, Integer> linesBeforeBrokerCut = new LinkedHashMap<>();
      for (String s : List.of("streams1", "streams2"))
        linesBeforeBrokerCut.put(s, Files.readAllLines(tmp.resolve(s + ".log")).size());
      net.cut("kafka3");
      long brokerAt = System.currentTimeMillis();
      burst(live);
      ms = checkExact("streams1", live, RECOVERY_MS);
      List<String> brokerCutSaid = new ArrayList<>();
      for (var e : linesBeforeBrokerCut.entrySet()) {
        logLines(
                tmp.resolve(e.getKey() + ".log"),
                e.getValue(),
                "Kafka Streams",
                "replacing",
                "enced",
                "imeout",
                "restoring")
            .stream()
            .filter(l -> !l.contains("stack-definitions"))
            .limit(15)
            .forEach(l -> brokerCutSaid.add(e.getKey() + ": " + l));
      }
      row(
          "kafka3 cut off",
          "two brokers carried on (replication 3, min.insync 2)",
          "exact " + said(live),
          "equal",
          ms);
      net.reconnect("kafka3");
      System.out.printf(
          "kafka3 back after %.0f s%n", (System.currentTimeMillis() - brokerAt) / 1000.0);

      // 4. a streams-app host cut off: the other instance takes over and answers for every process.
      int streams2LinesBefore = Files.readAllLines(tmp.resolve("streams2.log")).size();
      net.cut("streams1");
      burst(live);
      ms = checkExact("streams2", live, RECOVERY_MS);
      waitFor(
          "app4's exit reports from the remaining instance",
          60_000,
          () -> {
            HostView v = view("streams2");
            return v != null && app4Said.get("app4").equals(v.exitedLeaked().get("app4"));
          });
      row(
          "streams1 cut off",
          "streams2 took over every partition; answers for every process (app4's exit reports too)",
          "exact " + said(live),
          "equal",
          ms);

      // The dashboards against this fleet's Prometheus: every panel has data for app1's services
      // (once Prometheus has scraped streams2 with the partitions it took over: a run saw two
      // panels empty when asked at once).
      long panelsBy = System.currentTimeMillis() + 60_000;
      List<String> noData = DashboardQueries.withoutData(promPort, "app1", "fleet-target");
      while (!noData.isEmpty() && System.currentTimeMillis() < panelsBy) {
        Thread.sleep(2_000);
        noData = DashboardQueries.withoutData(promPort, "app1", "fleet-target");
      }
      assertThat(noData).as("dashboard panels without data for app1/fleet-target").isEmpty();

      System.out.println();
      System.out.println(
          "| fault | what the pipeline did | totals per host (leaked bytes) | Prometheus vs report API | time to recover |");
      System.out.println("|---|---|---|---|---|");
      table.forEach(System.out::println);
      System.out.println();
      System.out.println("collector on app1 during its cut (its log):");
      quoted.stream().limit(12).forEach(l -> System.out.println("    " + l));
      System.out.println("the streams-apps while kafka3 was cut off (their logs):");
      brokerCutSaid.forEach(l -> System.out.println("    " + l));
      System.out.println("streams2 when streams1 was cut off (its log):");
      List<String> streams2Lines =
          logLines(tmp.resolve("streams2.log"), "Kafka Streams", "restor", "health:", "replacing");
      streams2Lines
          .subList(
              Math.min(streams2Lines.size(), Math.max(0, streams2Lines.size() - 40)),
              streams2Lines.size())
          .stream()
          .filter(
              l ->
                  !l.contains("restoring stack-definitions")
                      && !l.contains("restored stack-definitions"))
          .limit(16)
          .forEach(l -> System.out.println("    " + l));
      System.out.println(
          "    ("
              + (Files.readAllLines(tmp.resolve("streams2.log")).size() - streams2LinesBefore)
              + " lines since the cut)");
      assertThat(quoted)
          .as("the collector logged the failed publishes of its cut")
          .anyMatch(l -> l.contains("publish failed") || l.contains("round failed"));
    } catch (Throwable t) {
      // The temporary directory goes with the test: what the daemons said goes into its output.
      for (String log :
          List.of(
              "streams1",
              "streams2",
              "collector-app1",
              "collector-app2",
              "collector-app3",
              "collector-app4")) {
        Path f = tmp.resolve(log + ".log");
        if (!Files.exists(f)) continue;
        List<String> lines =
            Files.readAllLines(f).stream()
                .filter(l -> !l.contains("NetworkClient") && !l.contains("Sender:"))
                .toList();
        System.out.println("---- " + log + " (last lines)");
        lines
            .subList(Math.max(0, lines.size() - 25), lines.size())
            .forEach(l -> System.out.println("    " + l));
      }
      throw t;
    } finally {
      for (Process p : daemons) p.destroyForcibly();
      for (Process p : daemons) p.waitFor(30, TimeUnit.SECONDS);
      if (cluster != null) cluster.close();
      net.close();
    }
  }

  private JsonNode awaitExitReport(String via, String host, long pid, long timeoutMs)
      throws Exception {
    final JsonNode[] found = new JsonNode[1];
    waitFor(
        "exit report of " + host + "/" + pid,
        timeoutMs,
        () -> {
          found[0] = api(via, "/api/report?host=" + host + "&pid=" + pid);
          return found[0] != null && found[0].path("process").path("exited").asBoolean();
        });
    return found[0];
  }
}
