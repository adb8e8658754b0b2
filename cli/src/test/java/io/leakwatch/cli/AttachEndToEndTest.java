package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code leakwatch attach} on a process started without the shim, through the real CLI in a JVM of
 * its own: what it leaked before the attach is not counted, what it leaked after is, exactly, with
 * its culprit; after the detach its cost per allocation is back to bare.
 */
class AttachEndToEndTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern CPU = Pattern.compile("cpu_ns_per_op ([0-9.]+)");
  private static final Pattern PAUSED = Pattern.compile("it paused ([0-9.]+) ms");
  private static final int BLOCKS = 100; // per request, 4242 bytes each (attach_target.c)

  @TempDir Path tmp;

  /** The target's output, line by line, as it comes. */
  static final class Output {
    final List<String> lines = new CopyOnWriteArrayList<>();

    Output(Process p) {
      Thread t =
          new Thread(
              () -> {
                try (BufferedReader r =
                    new BufferedReader(
                        new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                  for (String l; (l = r.readLine()) != null; ) lines.add(l);
                } catch (Exception e) {
                  // the process ended
                }
              });
      t.setDaemon(true);
      t.start();
    }

    /** Waits for n more "ops" lines after the current ones; returns their median CPU per op. */
    double medianCpuPerOp(int n) throws InterruptedException {
      List<Double> cpu = cpuPerOp(n);
      return cpu.get(cpu.size() / 2);
    }

    /** The lowest of the n "ops" lines after line {@code from}, waiting for them. */
    double lowestCpuPerOpSince(int from, int n) throws InterruptedException {
      return cpuPerOp(from, n).get(0);
    }

    /** The CPU per op of the next n "ops" lines, lowest first. */
    private List<Double> cpuPerOp(int n) throws InterruptedException {
      return cpuPerOp(lines.size(), n);
    }

    private List<Double> cpuPerOp(int from, int n) throws InterruptedException {
      long deadline = System.currentTimeMillis() + 30_000L + 2_000L * n;
      List<Double> cpu = new ArrayList<>();
      while (cpu.size() < n && System.currentTimeMillis() < deadline) {
        cpu.clear();
        for (String l : lines.subList(from, lines.size())) {
          Matcher m = CPU.matcher(l);
          if (m.find()) cpu.add(Double.parseDouble(m.group(1)));
        }
        Thread.sleep(200);
      }
      assertThat(cpu).hasSizeGreaterThanOrEqualTo(n);
      Collections.sort(cpu);
      return cpu;
    }

    void await(String prefix, int count) throws InterruptedException {
      long deadline = System.currentTimeMillis() + 30_000;
      while (System.currentTimeMillis() < deadline) {
        if (lines.stream().filter(l -> l.startsWith(prefix)).count() >= count) return;
        Thread.sleep(50);
      }
      throw new AssertionError("no " + prefix + " (" + count + ") in " + lines);
    }
  }

  static Process cli(Path log, String... args) throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> cmd = new ArrayList<>();
    cmd.addAll(
        List.of(
            java,
            "-Xmx512m",
            "-Dleakwatch.home=" + Home.root(),
            "-cp",
            System.getProperty("java.class.path"),
            Main.class.getName()));
    cmd.addAll(List.of(args));
    return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
  }

  /** `leakwatch attach --exact --duration S` with a JSON report, once it said it is attached. */
  static Process attachFor(long pid, int seconds, Path log, Path report) throws Exception {
    Process attach =
        cli(
            log,
            "attach",
            "--pid",
            Long.toString(pid),
            "--exact",
            "--duration",
            Integer.toString(seconds),
            "--report",
            "json",
            "--report-file",
            report.toString());
    long deadline = System.currentTimeMillis() + 120_000;
    // the whole line: a printf reaches the file in pieces, and CI once read "attached to pid "
    while (!Files.readString(log).matches("(?s).*attached to pid \\d+[^\n]*\n.*")
        && System.currentTimeMillis() < deadline) {
      assertThat(attach.isAlive()).as(Files.readString(log)).isTrue();
      Thread.sleep(100);
    }
    assertThat(Files.readString(log)).contains("attached to pid " + pid);
    return attach;
  }

  /**
   * Once {@code target} said "ready": attach for {@code seconds} in exact mode, write {@code what}
   * to its trigger file, wait for its {@code said} line and for the attach to end; the report, with
   * nothing lost.
   */
  private JsonNode attachThenTrigger(
      Process target, Output out, String name, int seconds, Path trigger, String what, String said)
      throws Exception {
    out.await("ready", 1);
    Path log = tmp.resolve("attach-" + name + ".log");
    Path report = tmp.resolve(name + ".json");
    Process attach = attachFor(target.pid(), seconds, log, report);
    Files.writeString(trigger, what);
    out.await(said, 1);
    assertThat(attach.waitFor(180, TimeUnit.SECONDS)).isTrue();
    assertThat(attach.exitValue()).as(Files.readString(log)).isZero();
    JsonNode r = JSON.readTree(Files.readString(report));
    assertThat(r.path("tracking").path("lostEvents").asLong()).isZero();
    return r;
  }

  static void signal(Process p, String sig) throws Exception {
    new ProcessBuilder("kill", "-" + sig, Long.toString(p.pid())).start().waitFor();
  }

  /** attach-target at 20,000 malloc/free pairs a second, leaking BLOCKS blocks per request. */
  private static Process attachTarget() throws Exception {
    return new ProcessBuilder(
            Home.nativeDir().resolve("attach-target").toString(), Integer.toString(BLOCKS), "20000")
        .redirectErrorStream(true)
        .start();
  }

  @Test
  void attachCountsExactlyWhatLeaksAfterItAndDetachLeavesItAsFastAsBare() throws Exception {
    Process target = attachTarget();
    Output out = new Output(target);
    // A twin never attached: after the detach both are measured over the same seconds, so noise
    // from this VM's other tenant or the test JVM weighs on both (a clean-clone run measured the
    // target at 1.57x its earlier bare for 5 s on end while nothing of ours ran).
    Process twin = attachTarget();
    Output twinOut = new Output(twin);
    try {
      out.await("ready", 1);
      twinOut.await("ready", 1);
      double bare = out.medianCpuPerOp(5);
      signal(target, "USR1"); // leaked before the attach: not the attach's to report
      out.await("leaked", 1);

      Path log = tmp.resolve("attach.log");
      Path report = tmp.resolve("report.json");
      Process attach = attachFor(target.pid(), 12, log, report);
      assertThat(Files.readString(log)).contains("attached to pid " + target.pid());
      double attached = out.medianCpuPerOp(2);
      signal(target, "USR1");
      out.await("leaked", 2);
      signal(target, "USR1");
      out.await("leaked", 3);

      assertThat(attach.waitFor(180, TimeUnit.SECONDS)).isTrue();
      String said = Files.readString(log);
      assertThat(attach.exitValue()).as(said).isZero();
      assertThat(said).contains("detached from pid " + target.pid());
      // the lowest of 5 s, the target's and its twin's over the same seconds
      int fromTarget = out.lines.size(), fromTwin = twinOut.lines.size();
      double after = out.lowestCpuPerOpSince(fromTarget, 5);
      double twinAfter = twinOut.lowestCpuPerOpSince(fromTwin, 5);

      JsonNode r = JSON.readTree(Files.readString(report));
      assertThat(r.path("tracking").path("lostEvents").asLong()).isZero();
      assertThat(Targets.bytesOfStacksCalling(r, "open_session_key"))
          .as("the two requests after the attach, not the one before")
          .isEqualTo(2L * BLOCKS * 4242);
      assertThat(r.path("stacks").get(0).path("culprit").asText())
          .startsWith("attach-target!open_session_key");
      assertThat(r.path("tracking").path("unknownFrees").asLong())
          .as("blocks from before the attach freed while attached")
          .isPositive();
      assertThat(r.path("tracking").path("attached").asBoolean()).isTrue();
      assertThat(r.path("process").path("detached").asBoolean())
          .as("the recording ended at the detach; the process ran on")
          .isTrue();
      Matcher paused = PAUSED.matcher(said);
      List<String> pauses = new ArrayList<>();
      while (paused.find()) pauses.add(paused.group(1) + " ms");
      System.out.printf(
          "attach: cpu per malloc/free pair bare %.1f ns, attached (exact) %.1f ns, after detach"
              + " %.1f ns (a twin never attached, same seconds: %.1f ns); target paused %s%n",
          bare, attached, after, twinAfter, pauses);
      assertThat(attached).as("the shim was in the path while attached").isGreaterThan(bare);
      assertThat(after)
          .as("back to bare after the detach: against the twin over the same seconds")
          .isLessThan(twinAfter * 1.35);
      assertThat(target.isAlive()).isTrue();
    } finally {
      target.destroyForcibly();
      twin.destroyForcibly();
    }
  }

  /**
   * The shim stays loaded after a detach, and with it what a sampled session left: a free filter
   * whose zero bytes let a free skip the recorder, and every thread's armed countdown, which lets
   * malloc skip it (no other thread can reset one). An exact attach after a sampled one must see
   * every allocation and every free again: else the leak would be missed, or the churn's blocks
   * (20,000 a second, freed within 64 allocations) would all look outstanding. Sampling at 1 TiB
   * arms countdowns that never run out.
   */
  @Test
  void anExactAttachAfterASampledOneSeesEveryFree() throws Exception {
    Process target = attachTarget();
    Output out = new Output(target);
    try {
      out.await("ready", 1);
      Path sampledLog = tmp.resolve("attach-sampled.log");
      Process sampled =
          cli(
              sampledLog,
              "attach",
              "--pid",
              Long.toString(target.pid()),
              "--sample-bytes",
              "1099511627776",
              "--duration",
              "3");
      assertThat(sampled.waitFor(180, TimeUnit.SECONDS)).isTrue();
      assertThat(sampled.exitValue()).as(Files.readString(sampledLog)).isZero();
      assertThat(Files.readString(sampledLog)).contains("detached from pid " + target.pid());

      Path log = tmp.resolve("attach-exact.log");
      Path report = tmp.resolve("exact-after-sampled.json");
      Process exact = attachFor(target.pid(), 8, log, report);
      signal(target, "USR1");
      out.await("leaked", 1);
      assertThat(exact.waitFor(180, TimeUnit.SECONDS)).isTrue();
      assertThat(exact.exitValue()).as(Files.readString(log)).isZero();
      JsonNode r = JSON.readTree(Files.readString(report));
      assertThat(r.path("tracking").path("mode").asText()).isEqualTo("exact");
      assertThat(r.path("tracking").path("lostEvents").asLong()).isZero();
      long leaked = Targets.bytesOfStacksCalling(r, "open_session_key");
      assertThat(leaked).isEqualTo((long) BLOCKS * 4242);
      long all = 0;
      for (JsonNode s : r.path("stacks")) all += s.path("bytes").asLong();
      assertThat(all - leaked)
          .as("the churn's blocks outstanding at the detach: at most its 64 slots of 2,015 bytes")
          .isLessThanOrEqualTo(64L * 2015);
    } finally {
      target.destroyForcibly();
    }
  }

  @Test
  void aJvmAttachedAfterStartShowsTheInflatersItLeaksAfterwards() throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    String classes =
        Path.of(
                InflaterLeakProgram.class
                    .getProtectionDomain()
                    .getCodeSource()
                    .getLocation()
                    .toURI())
            .toString();
    Path trigger = tmp.resolve("leak-now");
    Process jvm =
        new ProcessBuilder(
                java, "-cp", classes, InflaterLeakProgram.class.getName(), trigger.toString())
            .redirectErrorStream(true)
            .start();
    Output out = new Output(jvm);
    try {
      JsonNode r = attachThenTrigger(jvm, out, "jvm", 12, trigger, "50", "leaked 50");
      JsonNode leak = null;
      for (JsonNode s : r.path("stacks"))
        if (s.path("culprit").asText().startsWith("libzip.so!Java_java_util_zip_Inflater_init")
            && s.path("allocator").asText().startsWith("libz.so")) leak = s;
      assertThat(leak).as("the Inflaters' zlib state, under libzip's JNI code").isNotNull();
      assertThat(leak.path("allocations").asLong()).isEqualTo(50);
      List<String> frames = new ArrayList<>();
      for (JsonNode f : leak.path("frames")) frames.add(f.path("display").asText());
      assertThat(frames)
          .as("Java frames named as under run")
          .anyMatch(f -> f.startsWith("[jit]!") && f.contains("java.util.zip.Inflater.<init>"));
      assertThat(jvm.isAlive()).isTrue();
    } finally {
      jvm.destroyForcibly();
    }
  }

  /**
   * CPython, attached, then told to load two libraries it never had (ctypes: libtoykey.so, and
   * libstdc++ for C++'s operator new) and leak through them: a module loaded after the attach is
   * routed too (within 100 ms of the next recorded allocation), and so is C++'s new, whose malloc
   * goes through libstdc++'s own GOT slot. The program keeps allocating through malloc meanwhile,
   * as a server does: blocks under 512 bytes would come from CPython's own allocator, the shim
   * would record nothing, and the new library's first calls would pass unrouted (attach.c says so).
   */
  @Test
  void librariesLoadedAfterTheAttachAndCxxNewAreRecorded() throws Exception {
    Path trigger = tmp.resolve("leak-now");
    String script =
        String.join(
            "\n",
            "import ctypes, os, sys, time",
            "print('ready', flush=True)",
            "junk = []",
            "while not os.path.exists(sys.argv[1]):",
            "    junk = [bytearray(4096) for _ in range(50)]  # through malloc, as a server does",
            "    time.sleep(0.01)",
            "toy = ctypes.CDLL(sys.argv[2])",
            "toy.toy_derive_key.restype = ctypes.c_void_p",
            "cxx = ctypes.CDLL('libstdc++.so.6')",
            "cxx._Znwm.restype = ctypes.c_void_p",
            "cxx._Znwm.argtypes = [ctypes.c_size_t]",
            "time.sleep(0.5)  # loaded; routed at the next recorded allocation's poll",
            "for _ in range(40):",
            "    junk = [bytearray(4096) for _ in range(50)]",
            "    time.sleep(0.01)",
            "keys = [toy.toy_derive_key(b'secret', 6) for _ in range(100)]",
            "news = [cxx._Znwm(3000) for _ in range(50)]",
            "print('leaked', flush=True)",
            "while True:",
            "    time.sleep(0.1)",
            "");
    Path py = Files.writeString(tmp.resolve("late_libraries.py"), script);
    Process python =
        new ProcessBuilder(
                "python3",
                py.toString(),
                trigger.toString(),
                Home.nativeDir().resolve("libtoykey.so").toString())
            .redirectErrorStream(true)
            .start();
    Output out = new Output(python);
    try {
      JsonNode r = attachThenTrigger(python, out, "late", 10, trigger, "now", "leaked");
      assertThat(Targets.bytesOfStacksCalling(r, "toy_derive_key"))
          .as("100 keys of 422 bytes from a library dlopen'd after the attach")
          .isEqualTo(100L * 422);
      long cxxNew = 0; // stacks through libstdc++: nothing else in this python uses it
      for (JsonNode st : r.path("stacks")) {
        for (JsonNode f : st.path("frames")) {
          if (f.path("module").asText().startsWith("libstdc++")) {
            cxxNew += st.path("bytes").asLong();
            break;
          }
        }
      }
      assertThat(cxxNew)
          .as("50 operator new(3000) through libstdc++, loaded after the attach")
          .isEqualTo(50L * 3000);
      assertThat(python.isAlive()).isTrue();
    } finally {
      python.destroyForcibly();
    }
  }

  /**
   * A process whose main thread called pthread_exit while another runs on: /proc/PID shows a zombie
   * with no maps, no program and no root. The injector refused it as "exited", and a collector that
   * read it as gone would have retired its ring at once. Attached through a live thread's /proc
   * files (the injector's, the collector's and the shim's), its leak after the attach is reported,
   * with its command line.
   */
  @Test
  void aProcessWhoseMainThreadEndedIsAttachedAndItsLeakReported() throws Exception {
    Path trigger = tmp.resolve("leak-now");
    String script =
        "import ctypes, os, threading, time\n"
            + "def work():\n"
            + "    print('ready', flush=True)\n"
            + "    while not os.path.exists('"
            + trigger
            + "'): time.sleep(0.05)\n"
            // through CPython's own allocator: blocks named under PyByteArray_Resize
            + "    kept = [bytearray(424242) for _ in range(10)]\n"
            + "    print('leaked', flush=True)\n"
            + "    time.sleep(120)\n"
            + "threading.Thread(target=work).start()\n"
            + "time.sleep(0.3)\n"
            + "ctypes.CDLL(None).pthread_exit(None)\n";
    Process py =
        new ProcessBuilder("python3", "-u", "-c", script).redirectErrorStream(true).start();
    Output out = new Output(py);
    try {
      out.await("ready", 1);
      Path stat = Path.of("/proc/" + py.pid() + "/stat");
      long until = System.currentTimeMillis() + 10_000;
      while (!Files.readString(stat).contains(") Z ") && System.currentTimeMillis() < until)
        Thread.sleep(20);
      assertThat(Files.readString(stat)).as("its main thread ended").contains(") Z ");

      Path log = tmp.resolve("attach-zombie-main.log");
      Path report = tmp.resolve("zombie-main.json");
      Process attach = attachFor(py.pid(), 10, log, report);
      Files.writeString(trigger, "now");
      out.await("leaked", 1);
      assertThat(attach.waitFor(180, TimeUnit.SECONDS)).isTrue();
      String said = Files.readString(log);
      assertThat(attach.exitValue()).as(said).isZero();
      assertThat(said).contains("detached from pid " + py.pid());
      JsonNode r = JSON.readTree(Files.readString(report));
      assertThat(r.path("tracking").path("lostEvents").asLong()).isZero();
      // Retired as gone at first sight, the collector published none of them; the shim read its
      // command line through /proc/self, the zombie's, and named the process "unknown".
      assertThat(Targets.bytesOfStacksCalling(r, "PyByteArray_Resize"))
          .as(r.toPrettyString())
          .isEqualTo(10L * (424242 + 1));
      assertThat(r.path("process").path("command").asText()).contains("python3");
      assertThat(py.isAlive()).isTrue();
    } finally {
      py.destroyForcibly();
    }
  }

  @Test
  void aRecordingEndsWhenTheAttachedProcessExecs() throws Exception {
    // bash becomes another program when told (SIGUSR1): the shim is gone with its old image.
    Process sh =
        new ProcessBuilder("bash", "-c", "trap 'exec sleep 60' USR1; while :; do sleep 0.2; done")
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .start();
    try {
      Path log = tmp.resolve("attach-exec.log");
      Path report = tmp.resolve("exec.json");
      Process attach = attachFor(sh.pid(), 120, log, report);
      Thread.sleep(1_000);
      signal(sh, "USR1");
      assertThat(attach.waitFor(180, TimeUnit.SECONDS)).isTrue();
      String said = Files.readString(log);
      assertThat(attach.exitValue()).as(said).isZero();
      assertThat(said).doesNotContain("detached from pid");
      JsonNode r = JSON.readTree(Files.readString(report));
      assertThat(r.path("process").path("detached").asBoolean())
          .as("the exec ended the recording, long before --duration")
          .isTrue();
      assertThat(r.path("tracking").path("seconds").asDouble()).isLessThan(60);
      assertThat(sh.isAlive()).as("the new program runs on").isTrue();
    } finally {
      sh.destroyForcibly();
    }
  }

  @Test
  void inFleetModeTheHostsCollectorPublishesTheAttachedProcessUntilItsDetach() throws Exception {
    try (LocalStack stack = LocalStack.start(LocalStack.Options.headless())) {
      Process target =
          new ProcessBuilder(
                  Home.nativeDir().resolve("attach-target").toString(),
                  Integer.toString(BLOCKS),
                  "20000")
              .redirectErrorStream(true)
              .start();
      Output out = new Output(target);
      try {
        out.await("ready", 1);
        Path log = tmp.resolve("fleet-attach.log");
        Process attach =
            cli(
                log,
                "attach",
                "--pid",
                Long.toString(target.pid()),
                "--exact",
                "--fleet",
                "--run-dir",
                stack.runDir.toString());
        assertThat(attach.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(attach.exitValue()).as(Files.readString(log)).isZero();
        assertThat(Files.readString(log)).contains("this host's collector publishes its ring");
        signal(target, "USR1");
        out.await("leaked", 1);
        // While attached, the streams-app follows it as a running process.
        long until = System.currentTimeMillis() + 60_000;
        Optional<? extends JsonNode> running = Optional.empty();
        while (running.isEmpty() && System.currentTimeMillis() < until) {
          running =
              stack
                  .streams
                  .reports()
                  .report(stack.host, (int) target.pid())
                  .map(Targets::json)
                  .filter(j -> Targets.bytesOfStacksCalling(j, "open_session_key") > 0);
          Thread.sleep(200);
        }
        assertThat(running).isPresent();
        assertThat(running.get().path("process").path("exited").asBoolean()).isFalse();
        Path off = tmp.resolve("fleet-detach.log");
        Process detach = cli(off, "detach", "--pid", Long.toString(target.pid()));
        assertThat(detach.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(detach.exitValue()).as(Files.readString(off)).isZero();
        JsonNode r =
            Targets.awaitExitReport(
                () ->
                    stack
                        .streams
                        .reports()
                        .report(stack.host, (int) target.pid())
                        .map(Targets::json),
                120_000);
        assertThat(r).as("a final report once the collector retired the detached ring").isNotNull();
        assertThat(r.path("process").path("detached").asBoolean()).isTrue();
        assertThat(r.path("tracking").path("attached").asBoolean()).isTrue();
        assertThat(Targets.bytesOfStacksCalling(r, "open_session_key")).isEqualTo(BLOCKS * 4242L);
        assertThat(target.isAlive()).isTrue();
      } finally {
        target.destroyForcibly();
      }
    }
  }
}
