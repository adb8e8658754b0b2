package io.leakwatch.cli;

import io.leakwatch.collector.CollectorConfig;
import io.leakwatch.collector.symbols.LlvmSymbolizer;
import io.leakwatch.streams.report.Units;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code ./leakwatch doctor}: checks a host before a rollout and says what to fix. Each check is
 * one line: ok, warn (works, but look at it), fail (fix it first; the exit status is then 1) or
 * info.
 */
@Command(
    name = "doctor",
    description = {
      "Checks this host before a rollout and says what to fix: the run directory (permissions, free space",
      "for rings), the shim loading into a program, the collector running and reaching Kafka,",
      "/etc/ld.so.preload, ptrace permissions, and with --bootstrap the brokers and the clock skew against them."
    },
    footer = {
      "",
      "Examples:",
      "  ./leakwatch doctor",
      "  ./leakwatch doctor --bootstrap kafka1:9092 --collector-url http://127.0.0.1:9400",
      "",
      "Exit status: 0 when nothing failed, 1 when a check failed."
    })
final class DoctorCommand implements Callable<Integer> {
  /** Rings the shim creates per process: sampled (the default) and exact mode. */
  static final long SAMPLED_RING_BYTES = 8L << 20, EXACT_RING_BYTES = 256L << 20;

  @Spec CommandSpec spec;

  @Option(
      names = "--run-dir",
      paramLabel = "DIR",
      description = "where shims write rings (default /dev/shm/leakwatch, or LEAKWATCH_RUN_DIR)")
  Path runDir;

  @Option(
      names = "--collector-url",
      defaultValue = "http://127.0.0.1:9400",
      paramLabel = "URL",
      description = "the collector's own HTTP port (default ${DEFAULT-VALUE})")
  String collectorUrl;

  @Option(
      names = "--bootstrap",
      paramLabel = "H:P",
      description = "Kafka to check: reachable, and the clock skew against its brokers")
  String bootstrap;

  @Option(
      names = "--preload-file",
      defaultValue = "/etc/ld.so.preload",
      hidden = true,
      description = "(tests) the system-wide preload list")
  Path preloadFile;

  enum Status {
    OK,
    WARN,
    FAIL,
    INFO
  }

  record Check(Status status, String what, String detail) {}

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    Path dir = runDir != null ? runDir : CollectorConfig.runDirFromEnvironment();
    List<Check> checks = new ArrayList<>();
    checks.addAll(runDirectory(dir));
    checks.add(shimLoads());
    checks.add(collector());
    checks.add(systemPreload());
    checks.add(ptrace());
    checks.add(sourceLines(LlvmSymbolizer.findOnPath(), System.getenv("DEBUGINFOD_URLS")));
    if (bootstrap != null) checks.addAll(kafka());
    else
      checks.add(
          new Check(
              Status.INFO,
              "kafka",
              "not checked (give --bootstrap H:P to check it and the clock skew)"));
    boolean failed = false;
    for (Check c : checks) {
      out.printf(
          Locale.ROOT,
          "%-4s  %-16s %s%n",
          c.status().name().toLowerCase(Locale.ROOT),
          c.what(),
          c.detail());
      failed |= c.status() == Status.FAIL;
    }
    out.println(
        failed ? "doctor: fix the failed checks before a rollout." : "doctor: nothing failed.");
    out.flush();
    return failed ? 1 : 0;
  }

  /**
   * The directory shims write rings to: there, usable by the services, with room for their rings.
   */
  static List<Check> runDirectory(Path dir) {
    List<Check> checks = new ArrayList<>();
    Path existing = dir;
    while (existing != null && !Files.exists(existing)) existing = existing.getParent();
    if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
      if (Files.isSymbolicLink(dir)) {
        checks.add(
            new Check(
                Status.FAIL,
                "run directory",
                dir + " is a symbolic link: the collector refuses it; make it a directory"));
        return checks;
      }
      if (Files.exists(dir)) {
        checks.add(new Check(Status.FAIL, "run directory", dir + " exists and is not a directory"));
        return checks;
      }
      checks.add(
          new Check(
              existing != null && Files.isWritable(existing) ? Status.WARN : Status.FAIL,
              "run directory",
              dir
                  + " does not exist yet: the collector creates it (mode 1777) when it starts"
                  + (existing != null && Files.isWritable(existing)
                      ? ""
                      : "; it cannot, " + existing + " is not writable")));
    } else {
      try {
        PosixFileAttributes a =
            Files.readAttributes(dir, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        String mode = PosixFilePermissions.toString(a.permissions());
        boolean worldWritable = mode.charAt(7) == 'w';
        boolean sticky = sticky(dir);
        Status s =
            worldWritable && !sticky
                ? Status.FAIL
                : worldWritable || Files.isWritable(dir) ? Status.OK : Status.WARN;
        String detail =
            dir + ": owner " + a.owner().getName() + ", " + mode + (sticky ? " (sticky)" : "");
        if (s == Status.FAIL)
          detail +=
              ": world-writable without the sticky bit, one service could delete another's ring; chmod 1777";
        else if (!worldWritable)
          detail +=
              ": only services running as "
                  + a.owner().getName()
                  + " or its group can write rings here";
        checks.add(new Check(s, "run directory", detail));
      } catch (IOException | UnsupportedOperationException e) {
        checks.add(
            new Check(
                Status.WARN,
                "run directory",
                dir + ": cannot read its permissions (" + e.getMessage() + ")"));
      }
    }
    if (existing == null) return checks;
    try {
      FileStore store = Files.getFileStore(existing);
      long free = store.getUsableSpace();
      long sampled = free / SAMPLED_RING_BYTES, exact = free / EXACT_RING_BYTES;
      Status s = sampled < 1 ? Status.FAIL : sampled < 64 ? Status.WARN : Status.OK;
      String detail =
          String.format(
              Locale.ROOT,
              "%s free on %s (%s): room for %,d sampled rings of %s or %,d exact ones of %s",
              Units.bytes(free),
              store.type(),
              store.name(),
              sampled,
              Units.bytes(SAMPLED_RING_BYTES),
              exact,
              Units.bytes(EXACT_RING_BYTES));
      if (!store.type().equals("tmpfs"))
        detail += "; not tmpfs: rings are written back to disk, put them on /dev/shm";
      if (s != Status.OK)
        detail += "; a shim without room stays passive (counted), it never fails its process";
      checks.add(
          new Check(
              s == Status.OK && !store.type().equals("tmpfs") ? Status.WARN : s,
              "ring space",
              detail));
    } catch (IOException e) {
      checks.add(
          new Check(
              Status.WARN,
              "ring space",
              "cannot read the free space of " + existing + ": " + e.getMessage()));
    }
    return checks;
  }

  private static boolean sticky(Path dir) {
    try {
      Object mode = Files.getAttribute(dir, "unix:mode", LinkOption.NOFOLLOW_LINKS);
      return mode instanceof Integer m && (m & 01000) != 0;
    } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
      return false;
    }
  }

  /** The shim loads into a program and the program runs as before (in a scratch run directory). */
  static Check shimLoads() {
    Path agent;
    try {
      agent = Home.agent();
    } catch (IllegalStateException e) {
      return new Check(Status.FAIL, "shim", e.getMessage());
    }
    Path scratch = null;
    try {
      scratch = Files.createTempDirectory("leakwatch-doctor-");
      ProcessBuilder pb = new ProcessBuilder("/bin/sh", "-c", "exit 7").redirectErrorStream(true);
      pb.environment().put("LD_PRELOAD", agent.toString());
      pb.environment().put("LEAKWATCH_RUN_DIR", scratch.toString());
      Process p = pb.start();
      String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
      if (!p.waitFor(10, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        return new Check(Status.FAIL, "shim", "/bin/sh under " + agent + " did not exit in 10 s");
      }
      if (p.exitValue() != 7 || !output.isEmpty()) {
        return new Check(
            Status.FAIL,
            "shim",
            "/bin/sh under "
                + agent
                + " exited "
                + p.exitValue()
                + (output.isEmpty() ? "" : ": " + output));
      }
      return new Check(Status.OK, "shim", agent + " loads into /bin/sh, which runs as without it");
    } catch (IOException e) {
      return new Check(Status.FAIL, "shim", "cannot run /bin/sh under the shim: " + e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return new Check(Status.FAIL, "shim", "interrupted");
    } finally {
      deleteTree(scratch);
    }
  }

  private static void deleteTree(Path dir) {
    if (dir == null) return;
    try (var files = Files.walk(dir)) {
      files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
    } catch (IOException e) {
      // a scratch directory left in /tmp
    }
  }

  /** The host's collector: running, and ready (publishing to Kafka). */
  Check collector() {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    try {
      HttpResponse<String> r =
          http.send(
              HttpRequest.newBuilder(URI.create(collectorUrl + "/readyz"))
                  .timeout(Duration.ofSeconds(3))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      String body = r.body().strip();
      if (r.statusCode() == 200)
        return new Check(
            Status.OK,
            "collector",
            "ready at " + collectorUrl + (body.isEmpty() ? "" : ": " + body));
      return new Check(
          Status.FAIL,
          "collector",
          "running at " + collectorUrl + " but not ready (" + r.statusCode() + "): " + body);
    } catch (IOException | IllegalArgumentException e) {
      return new Check(
          Status.WARN,
          "collector",
          "none answers at "
              + collectorUrl
              + ": start one (./leakwatch collector --bootstrap H:P, or its systemd unit);"
              + " without it, rings wait and tracked services fall back to passive when theirs fill");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return new Check(Status.FAIL, "collector", "interrupted");
    }
  }

  /** A system-wide preload list naming a library that is not there breaks every program's start. */
  Check systemPreload() {
    if (!Files.exists(preloadFile)) {
      return new Check(
          Status.INFO,
          "ld.so.preload",
          preloadFile + " absent: services are tracked one by one (LD_PRELOAD in their units)");
    }
    try {
      List<String> missing = new ArrayList<>(), ours = new ArrayList<>();
      for (String line : Files.readAllLines(preloadFile)) {
        for (String entry : line.replaceAll("#.*", "").trim().split("[\\s:]+")) {
          if (entry.isEmpty()) continue;
          if (!Files.isRegularFile(Path.of(entry))) missing.add(entry);
          else if (entry.contains("leakwatch")) ours.add(entry);
        }
      }
      if (!missing.isEmpty()) {
        return new Check(
            Status.FAIL,
            "ld.so.preload",
            preloadFile
                + " lists "
                + String.join(", ", missing)
                + ", which is not there: every program prints an error at start; remove the line");
      }
      return new Check(
          Status.OK,
          "ld.so.preload",
          preloadFile
              + (ours.isEmpty()
                  ? " lists no leakwatch shim"
                  : " preloads " + String.join(", ", ours) + " into every program"));
    } catch (IOException e) {
      return new Check(
          Status.WARN, "ld.so.preload", "cannot read " + preloadFile + ": " + e.getMessage());
    }
  }

  /** Whether frames will get file and line: llvm-symbolizer, and where debug info may come from. */
  static Check sourceLines(String symbolizer, String debuginfodUrls) {
    if (symbolizer == null)
      return new Check(
          Status.WARN,
          "source lines",
          "no llvm-symbolizer on PATH: frames will have no file and line (apt-get install llvm)");
    String servers =
        debuginfodUrls == null || debuginfodUrls.isBlank()
            ? "no debuginfod server (DEBUGINFOD_URLS unset): only debug info on this host"
            : "debuginfod: " + debuginfodUrls.strip();
    return new Check(Status.OK, "source lines", symbolizer + "; " + servers);
  }

  /**
   * What `leakwatch attach` will be able to do here: its injector built, and whom ptrace lets this
   * user trace (kernel.yama.ptrace_scope, root or not).
   */
  static Check ptrace() {
    Path inject = Home.nativeDir().resolve("leakwatch-inject");
    if (!Files.isExecutable(inject))
      return new Check(
          Status.WARN,
          "attach",
          "leakwatch-inject not built at " + inject + ": run ./leakwatch once");
    boolean root = "root".equals(System.getProperty("user.name"));
    Path scope = Path.of("/proc/sys/kernel/yama/ptrace_scope");
    String v;
    try {
      v = Files.readString(scope).strip();
    } catch (IOException e) {
      v = null;
    }
    String who;
    if (v == null || v.equals("0"))
      who = root ? "any process" : "this user's own processes (other users' need root)";
    else if (v.equals("1") || v.equals("2"))
      who =
          root
              ? "any process"
              : "none: ptrace_scope " + v + " lets only root (CAP_SYS_PTRACE) attach";
    else who = "none: ptrace_scope " + v + " forbids ptrace for everyone";
    String yama = v == null ? "no Yama" : "kernel.yama.ptrace_scope = " + v;
    Status status = who.startsWith("none") ? Status.WARN : Status.OK;
    return new Check(status, "attach", "can attach to " + who + " (" + yama + ")");
  }

  /**
   * The brokers answer, and their clock: a record appended to a scratch topic that takes the
   * broker's time (LogAppendTime) carries it back; the skew is against the middle of the send.
   */
  List<Check> kafka() {
    List<Check> checks = new ArrayList<>();
    String topic = "leakwatch.doctor-" + UUID.randomUUID();
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 5000);
    p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 8000);
    try (Admin admin = Admin.create(p)) {
      int brokers = admin.describeCluster().nodes().get(8, TimeUnit.SECONDS).size();
      checks.add(new Check(Status.OK, "kafka", bootstrap + " answers: " + brokers + " broker(s)"));
      try {
        admin
            .createTopics(
                List.of(
                    new NewTopic(topic, 1, (short) -1)
                        .configs(Map.of("message.timestamp.type", "LogAppendTime"))))
            .all()
            .get(8, TimeUnit.SECONDS);
        checks.add(clockSkew(topic));
      } catch (Exception e) {
        checks.add(
            new Check(
                Status.WARN,
                "clock skew",
                "not measured: cannot create a scratch topic (" + rootMessage(e) + ")"));
      } finally {
        try {
          admin.deleteTopics(List.of(topic)).all().get(8, TimeUnit.SECONDS);
        } catch (Exception e) {
          // left for the operator: the topic's name says what it was
        }
      }
    } catch (Exception e) {
      checks.add(
          new Check(Status.FAIL, "kafka", bootstrap + " does not answer: " + rootMessage(e)));
    }
    return checks;
  }

  private Check clockSkew(String topic) throws Exception {
    Map<String, Object> cfg =
        Map.of(
            ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
            ProducerConfig.MAX_BLOCK_MS_CONFIG, 8000,
            ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 8000,
            ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 5000);
    try (KafkaProducer<byte[], byte[]> producer =
        new KafkaProducer<>(cfg, new ByteArraySerializer(), new ByteArraySerializer())) {
      producer
          .send(new ProducerRecord<>(topic, new byte[0]))
          .get(8, TimeUnit.SECONDS); // metadata warmed
      long before = System.currentTimeMillis();
      RecordMetadata m =
          producer.send(new ProducerRecord<>(topic, new byte[0])).get(8, TimeUnit.SECONDS);
      long after = System.currentTimeMillis();
      long skew = m.timestamp() - (before + after) / 2;
      long uncertainty = (after - before + 1) / 2;
      Status s =
          Math.abs(skew) - uncertainty > 60_000
              ? Status.FAIL
              : Math.abs(skew) - uncertainty > 2_000 ? Status.WARN : Status.OK;
      String detail =
          String.format(
              Locale.ROOT,
              "the brokers' clock is %+d ms from this host's (± %d ms)",
              skew,
              uncertainty);
      if (s != Status.OK)
        detail +=
            ": run NTP (chrony or systemd-timesyncd); ages, trends and exit times use these clocks";
      return new Check(s, "clock skew", detail);
    }
  }

  private static String rootMessage(Throwable e) {
    Throwable t = e;
    while (t.getCause() != null) t = t.getCause();
    return t.getClass().getSimpleName() + (t.getMessage() == null ? "" : ": " + t.getMessage());
  }
}
