package io.leakwatch.cli;

import io.leakwatch.kafka.EmbeddedKafka;
import io.leakwatch.schemas.TopicSetup;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
    name = "bench",
    footer = {
      "",
      "Examples:",
      "  ./leakwatch bench native --repeat 3",
      "  ./leakwatch bench run --repeat 7",
      "  ./leakwatch bench pipeline --events 4000000 --batch 40"
    },
    description = "Benchmarks; each prints ratios against a baseline measured in the same run.",
    subcommands = {
      BenchCommand.Native.class,
      RunBench.class,
      RealWorldBench.class,
      BenchCommand.CollectorCpu.class,
      DrainBenchCommand.class,
      PipelineBench.class
    })
final class BenchCommand implements Runnable {
  @Override
  public void run() {
    new CommandLine(this).usage(System.out);
  }

  /**
   * The shim's cost inside a target: the churn program's own loop time (process start-up excluded)
   * bare, under leakwatch's modes and under heaptrack, interleaved run by run, medians reported.
   * Rings live in /dev/shm as in production; exact mode's is sized so nothing is dropped (a dropped
   * record is cheaper than a written one, which would flatter the numbers); the drop counters are
   * read back and printed.
   */
  @Command(
      name = "native",
      footer = {"", "Examples:", "  ./leakwatch bench native --repeat 3"},
      description =
          "Overhead of the shim on a malloc/free churn (and realloc-, calloc-heavy variants).")
  static final class Native implements Callable<Integer> {
    @Option(
        names = "--pairs",
        defaultValue = "2000000",
        description = "pairs per thread (default ${DEFAULT-VALUE})")
    long pairs;

    @Option(
        names = "--threads",
        defaultValue = "2",
        description = "threads (default ${DEFAULT-VALUE})")
    int threads;

    @Option(
        names = "--repeat",
        defaultValue = "5",
        description = "runs of each mode, median reported (default ${DEFAULT-VALUE})")
    int repeat;

    @Option(
        names = "--variants",
        defaultValue = "malloc,realloc,calloc",
        split = ",",
        description = "churn variants")
    List<String> variants;

    private static final Pattern SECONDS = Pattern.compile("churn: .* seconds=([0-9.]+)");

    record Mode(String name, String sampleBytes, String unwind, boolean heaptrack) {}

    @Override
    public Integer call() throws Exception {
      Path churn = Home.nativeDir().resolve("churn");
      boolean heaptrack = BenchSupport.onPath("heaptrack");
      List<Mode> modes =
          new ArrayList<>(
              List.of(
                  new Mode("bare", null, null, false),
                  new Mode("sampled-512K", "524288", null, false),
                  new Mode("sampled-64K", "65536", null, false),
                  new Mode("exact", "0", null, false),
                  new Mode("exact-fp", "0", "fp", false)));
      if (heaptrack) modes.add(new Mode("heaptrack", null, null, true));
      System.out.printf(
          Locale.ROOT,
          "native overhead: %s, %d threads x %,d pairs (%,d malloc/free pairs per run), 16 B - 2 KiB,"
              + " median of %d interleaved runs, loop time without process start-up%n",
          churn.getFileName(),
          threads,
          pairs,
          pairs * threads,
          repeat);
      if (!heaptrack)
        System.out.println(
            "(heaptrack not installed: apt-get install heaptrack for the reference column)");
      Path work = BenchSupport.ringWorkDir("leakwatch-bench-");
      try {
        Map<String, Map<String, double[]>> results = new LinkedHashMap<>();
        Map<String, Long> drops = new LinkedHashMap<>();
        for (String variant : variants) {
          Map<String, double[]> byMode = new LinkedHashMap<>();
          for (Mode m : modes) byMode.put(m.name(), new double[repeat]);
          for (int r = 0; r < repeat; r++) {
            for (Mode m : modes) {
              Path runDir =
                  Files.createDirectories(
                      work.resolve("run-" + variant + "-" + m.name() + "-" + r));
              byMode.get(m.name())[r] = runOnce(churn, variant, m, runDir, work);
              drops.merge(m.name(), droppedRecords(runDir), Long::sum);
              LocalStack.delete(runDir);
            }
          }
          results.put(variant, byMode);
        }
        System.out.printf(
            Locale.ROOT,
            "%nratios: median/median (min/min); noise only ever adds time, so the minimums are steadier%n");
        System.out.printf(Locale.ROOT, "%-9s %10s", "variant", "bare");
        for (Mode m : modes)
          if (!m.name().equals("bare")) System.out.printf(Locale.ROOT, " %16s", m.name());
        System.out.println();
        for (Map.Entry<String, Map<String, double[]>> e : results.entrySet()) {
          double bare = BenchSupport.median(e.getValue().get("bare"));
          double bareMin = Arrays.stream(e.getValue().get("bare")).min().orElse(bare);
          System.out.printf(Locale.ROOT, "%-9s %9.3fs", e.getKey(), bare);
          for (Mode m : modes) {
            if (m.name().equals("bare")) continue;
            double[] v = e.getValue().get(m.name());
            System.out.printf(
                Locale.ROOT,
                " %7.2fx (%5.2fx)",
                BenchSupport.median(v) / bare,
                Arrays.stream(v).min().orElse(0) / bareMin);
          }
          System.out.println();
        }
        System.out.print("records dropped (must be 0):");
        drops.forEach(
            (k, v) -> {
              if (!k.equals("bare") && !k.equals("heaptrack"))
                System.out.printf(Locale.ROOT, " %s=%d", k, v);
            });
        System.out.println();
        System.out.println(
            "targets: sampled-512K <= 1.03x, exact <= 8x (heaptrack measured 16x here before)");
      } finally {
        LocalStack.delete(work);
      }
      return 0;
    }

    private double runOnce(Path churn, String variant, Mode m, Path runDir, Path work)
        throws IOException, InterruptedException {
      List<String> cmd = new ArrayList<>();
      if (m.heaptrack())
        cmd.addAll(List.of("heaptrack", "-o", work.resolve("heaptrack.%p").toString()));
      cmd.addAll(
          List.of(
              churn.toString(),
              "-t",
              Integer.toString(threads),
              "-p",
              Long.toString(pairs),
              "-m",
              variant.substring(0, 1)));
      ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
      if (m.sampleBytes() != null) {
        pb.environment().put("LD_PRELOAD", Home.agent().toString());
        pb.environment().put("LEAKWATCH_RUN_DIR", runDir.toString());
        pb.environment().put("LEAKWATCH_SAMPLE_BYTES", m.sampleBytes());
        // No collector drains the ring here, so it must hold the whole run (a dropped record is
        // cheaper
        // than a written one and would flatter the result): 1 GiB for exact mode, 64 MiB for 64 KiB
        // sampling; the default 512 KiB sampling keeps the production 8 MiB ring. A deep ring that
        // never wraps would page-fault on every new page, a first-lap cost a long-running process
        // pays once, so deep rings are faulted in before the program starts
        // (LEAKWATCH_RING_POPULATE).
        if (m.sampleBytes().equals("0"))
          pb.environment().put("LEAKWATCH_RING_BYTES", Long.toString(1L << 30));
        if (m.sampleBytes().equals("65536"))
          pb.environment().put("LEAKWATCH_RING_BYTES", Long.toString(64L << 20));
        if (!m.sampleBytes().equals("524288")) pb.environment().put("LEAKWATCH_RING_POPULATE", "1");
        if (m.unwind() != null) pb.environment().put("LEAKWATCH_UNWIND", m.unwind());
      }
      Process p = pb.start();
      double seconds = -1;
      try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream()))) {
        String line;
        while ((line = out.readLine()) != null) {
          Matcher mm = SECONDS.matcher(line);
          if (mm.find()) seconds = Double.parseDouble(mm.group(1));
        }
      }
      if (!p.waitFor(10, TimeUnit.MINUTES) || p.exitValue() != 0 || seconds < 0) {
        throw new IllegalStateException(m.name() + " run failed: " + String.join(" ", cmd));
      }
      return seconds;
    }

    private static long droppedRecords(Path runDir) throws IOException {
      long dropped = 0;
      try (DirectoryStream<Path> rings = Files.newDirectoryStream(runDir, "*.ring")) {
        for (Path ring : rings) {
          try (FileChannel ch = FileChannel.open(ring, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(256).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(b, 0);
            dropped += b.getLong(192 + 8) + b.getLong(192 + 24) + b.getLong(192 + 32);
          }
        }
      }
      return dropped;
    }
  }

  /**
   * The collector's own cost: a collector in its own JVM (as on a host) drains a tracked program's
   * ring into a real broker; its CPU time (utime + stime from /proc) over a steady window is
   * divided by the events it published in that window (from its /metrics), and reported per 10,000
   * events/s.
   */
  @Command(
      name = "collector",
      footer = {
        "",
        "Examples:",
        "  ./leakwatch bench collector --seconds 30 --rate 20000",
        "  ./leakwatch bench collector --sample-bytes 65536 --rate 1 --idle-processes 100"
      },
      description = "Collector CPU per 10,000 events per second.")
  static final class CollectorCpu implements Callable<Integer> {
    @Option(
        names = "--seconds",
        defaultValue = "20",
        description = "measured window (default ${DEFAULT-VALUE})")
    int seconds;

    @Option(
        names = "--rate",
        defaultValue = "2000",
        description = "requests/s of the demo service (default ${DEFAULT-VALUE})")
    int rate;

    @Option(
        names = "--sample-bytes",
        defaultValue = "0",
        description = "the target's sampling (default exact, the heaviest)")
    long sampleBytes;

    @Option(
        names = "--lines",
        negatable = true,
        defaultValue = "true",
        fallbackValue = "true",
        description =
            "file and line through llvm-symbolizer (default on; --no-lines to compare without)")
    boolean lines;

    @Option(
        names = "--idle-processes",
        defaultValue = "0",
        description =
            "idle tracked processes beside the demo service (sleep under the shim), as a host's"
                + " daemons and sidecars are (default ${DEFAULT-VALUE})")
    int idleProcesses;

    @Override
    public Integer call() throws Exception {
      Path work = Files.createTempDirectory("leakwatch-bench-collector-");
      Path config = work.resolve("collector.yml");
      Files.writeString(config, "symbols:\n  lines: " + lines + "\n");
      Path runDir = Files.createDirectories(work.resolve("rings"));
      int port;
      try (ServerSocket s = new ServerSocket(0)) {
        port = s.getLocalPort();
      }
      try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
        TopicSetup.ensureTopics(
            Map.of("bootstrap.servers", kafka.bootstrapServers()), 4, (short) 1);
        Process collector =
            BenchSupport.startCollector(
                kafka.bootstrapServers(), runDir, port, null, "--config", config.toString());
        double cpuStart = cpuSeconds(collector.pid());
        ProcessBuilder pb =
            new ProcessBuilder(
                    Home.demoService().toString(),
                    Integer.toString(seconds + 30),
                    Integer.toString(rate))
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.environment().put("LD_PRELOAD", Home.agent().toString());
        pb.environment().put("LEAKWATCH_RUN_DIR", runDir.toString());
        pb.environment().put("LEAKWATCH_SAMPLE_BYTES", Long.toString(sampleBytes));
        Process target = pb.start();
        List<Process> idle = new ArrayList<>();
        try {
          for (int i = 0; i < idleProcesses; i++) {
            ProcessBuilder sleeper =
                new ProcessBuilder("sleep", Integer.toString(seconds + 60))
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD);
            sleeper.environment().putAll(pb.environment());
            idle.add(sleeper.start());
          }
          Thread.sleep(20_000); // JIT warm-up, connections, first symbolization
          double cpu0 = cpuSeconds(collector.pid());
          double helpers0 = helperCpuSeconds(collector.pid());
          double ev0 = published(port);
          long t0 = System.nanoTime();
          Thread.sleep(seconds * 1000L);
          double cpu1 = cpuSeconds(collector.pid());
          double helpers1 = helperCpuSeconds(collector.pid());
          double ev1 = published(port);
          double wall = (System.nanoTime() - t0) / 1e9;
          double eventsPerSecond = (ev1 - ev0) / wall;
          double cpuShare = (cpu1 - cpu0) / wall; // cores
          // under one event a second a per-event ratio says nothing (it printed 462,500%)
          String perEvents =
              eventsPerSecond >= 1
                  ? String.format(
                      Locale.ROOT,
                      "%.1f%% of a core per 10,000 events/s",
                      100 * cpuShare / (eventsPerSecond / 10_000))
                  : "no per-event ratio under one event a second";
          System.out.printf(
              Locale.ROOT,
              "collector: %.0f events/s published, %.1f%% of one core -> %s"
                  + " (%d s window, target sample bytes %d, rate %d req/s, %d idle processes)%n",
              eventsPerSecond,
              100 * cpuShare,
              perEvents,
              seconds,
              sampleBytes,
              rate,
              idleProcesses);
          String status =
              Files.readString(Path.of("/proc", Long.toString(collector.pid()), "status"));
          System.out.printf(
              Locale.ROOT,
              "collector memory: own (anonymous: heap, JIT, buffers) %s; file-backed (ring pages read, code) %s + tmpfs %s"
                  + "; peak resident %s (-Xmx256m)%n",
              statusField(status, "RssAnon:"),
              statusField(status, "RssFile:"),
              statusField(status, "RssShmem:"),
              statusField(status, "VmHWM:"));
          System.out.printf(
              Locale.ROOT,
              "collector lines %s: first 20 s (start, naming the new stacks) %.2f cpu-s;"
                  + " llvm-symbolizer %.2f cpu-s in all, %.1f%% of one core in the window, resident %s%n",
              lines ? "on" : "off",
              cpu0 - cpuStart,
              helpers1,
              100 * (helpers1 - helpers0) / wall,
              helperRss(collector.pid()));
        } finally {
          for (Process p : idle) p.destroy();
          for (Process p : idle) p.waitFor(10, TimeUnit.SECONDS);
          target.destroy();
          collector.destroy();
          target.waitFor(10, TimeUnit.SECONDS);
          collector.waitFor(10, TimeUnit.SECONDS);
        }
      } finally {
        LocalStack.delete(work);
      }
      return 0;
    }

    private static String statusField(String status, String field) {
      Matcher m = Pattern.compile("(?m)^" + field + "\\s+(\\d+) kB").matcher(status);
      return m.find() ? (Long.parseLong(m.group(1)) / 1024) + " MiB" : "?";
    }

    /** The collector's child processes (its llvm-symbolizer), from /proc/PID/task/TID/children. */
    private static List<Long> helpers(long pid) {
      List<Long> kids = new ArrayList<>();
      try (var tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
        for (Path t : tasks.toList()) {
          String children = Files.readString(t.resolve("children")).trim();
          if (children.isEmpty()) continue;
          for (String k : children.split("\\s+")) kids.add(Long.parseLong(k));
        }
      } catch (IOException | RuntimeException e) {
        // the collector is gone: no helpers
      }
      return kids;
    }

    private static double helperCpuSeconds(long pid) {
      double sum = 0;
      for (long k : helpers(pid)) {
        try {
          sum += cpuSeconds(k);
        } catch (IOException gone) {
          // exited between the listing and the read
        }
      }
      return sum;
    }

    private static String helperRss(long pid) {
      long kb = 0;
      for (long k : helpers(pid)) {
        try {
          Matcher m =
              Pattern.compile("(?m)^VmRSS:\\s+(\\d+) kB")
                  .matcher(Files.readString(Path.of("/proc", Long.toString(k), "status")));
          if (m.find()) kb += Long.parseLong(m.group(1));
        } catch (IOException gone) {
          // exited
        }
      }
      return (kb / 1024) + " MiB";
    }

    private static double cpuSeconds(long pid) throws IOException {
      String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
      String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
      return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0; // utime, stime in clock ticks
    }

    private static double published(int port) throws Exception {
      HttpResponse<String> r =
          HttpClient.newHttpClient()
              .send(
                  HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                      .build(),
                  HttpResponse.BodyHandlers.ofString());
      Matcher m =
          Pattern.compile(
                  "(?m)^leakwatch_collector_events_published_total(?:\\{[^}]*})? ([0-9.eE+]+)")
              .matcher(r.body());
      return m.find() ? Double.parseDouble(m.group(1)) : 0;
    }
  }
}
