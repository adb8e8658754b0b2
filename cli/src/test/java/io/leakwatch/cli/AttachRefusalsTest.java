package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.collector.NativeRuns;
import io.leakwatch.collector.ring.RingFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What `attach` and `detach` do when they cannot or should not: each ends with one clear line and
 * leaves the process running as it was. Fleet mode (`--fleet --run-dir`) keeps these fast: no local
 * pipeline.
 */
class AttachRefusalsTest {
  @TempDir Path tmp;
  private final List<Process> started = new ArrayList<>();

  @AfterEach
  void stop() {
    // Children first: killing runuser alone left its attach-target (run as nobody) behind after
    // the suite.
    for (Process p : started) {
      p.descendants().forEach(ProcessHandle::destroyForcibly);
      p.destroyForcibly();
    }
  }

  private Process start(ProcessBuilder pb) throws Exception {
    Process p =
        pb.redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    started.add(p);
    Thread.sleep(300);
    return p;
  }

  private Process target() throws Exception {
    return start(new ProcessBuilder(Home.nativeDir().resolve("attach-target").toString(), "10"));
  }

  record Said(int status, String text) {}

  private Said cli(String... args) throws Exception {
    Path log = tmp.resolve("cli-" + System.nanoTime() + ".log");
    Process p = AttachEndToEndTest.cli(log, args);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    return new Said(p.exitValue(), Files.readString(log).trim());
  }

  private Said attach(Process p) throws Exception {
    return cli(
        "attach",
        "--pid",
        Long.toString(p.pid()),
        "--fleet",
        "--run-dir",
        tmp.resolve("rings").toString());
  }

  /** leakwatch-inject itself (no JVM start): its "ok ..." line, after checking it succeeded. */
  private String injectOk(String op, long pid, long sampleBytes) throws Exception {
    Process in =
        new ProcessBuilder(
                Injector.binary().toString(),
                op,
                Long.toString(pid),
                Home.agent().toString(),
                "LEAKWATCH_SAMPLE_BYTES="
                    + sampleBytes
                    + "\nLEAKWATCH_RUN_DIR="
                    + tmp.resolve("rings"))
            .redirectErrorStream(true)
            .start();
    assertThat(in.waitFor(30, TimeUnit.SECONDS)).isTrue();
    String said = new String(in.getInputStream().readAllBytes()).trim();
    assertThat(in.exitValue()).as(op + ": " + said).isZero();
    return said;
  }

  /** leakwatch-inject's attach with the test hooks given (name, value, ...), started. */
  private Process startAttach(long pid, String runDir, String... hooks) throws Exception {
    return startInjector(pid, "LEAKWATCH_RUN_DIR=" + tmp.resolve(runDir), hooks);
  }

  /** The same with the shim's whole settings given (lines of NAME=value). */
  private static Process startInjector(long pid, String settings, String... hooks)
      throws Exception {
    ProcessBuilder pb =
        new ProcessBuilder(
                Injector.binary().toString(),
                "attach",
                Long.toString(pid),
                Home.agent().toString(),
                settings)
            .redirectErrorStream(true);
    for (int i = 0; i + 1 < hooks.length; i += 2) pb.environment().put(hooks[i], hooks[i + 1]);
    return pb.start();
  }

  /** Its exit status and what it said, once it has ended (within 30 s: it never hangs). */
  private static Said ended(Process injector) throws Exception {
    assertThat(injector.waitFor(30, TimeUnit.SECONDS)).as("never hangs").isTrue();
    return new Said(
        injector.exitValue(), new String(injector.getInputStream().readAllBytes()).trim());
  }

  private Said detach(Process p) throws Exception {
    return cli("detach", "--pid", Long.toString(p.pid()));
  }

  @Test
  void aSecondAttachIsRefusedAndDetachThenAttachAgainWorks() throws Exception {
    // holding collector.lock as a collector does: the shim keeps a detached ring for it to drain
    AutoCloseable collector = NativeRuns.actAsCollector(tmp.resolve("rings"));
    Process p = target();
    Said first = attach(p);
    assertThat(first.status()).as(first.text()).isZero();
    assertThat(first.text()).contains("attached to pid " + p.pid());
    Said second = attach(p);
    assertThat(second.status()).isEqualTo(1);
    assertThat(second.text())
        .contains("pid " + p.pid() + " is attached already (leakwatch detach --pid");
    Said off = detach(p);
    assertThat(off.status()).as(off.text()).isZero();
    Said again = detach(p);
    assertThat(again.status()).isEqualTo(1);
    assertThat(again.text()).contains("is not attached");
    Said reattached = attach(p);
    assertThat(reattached.status()).as(reattached.text()).isZero();
    List<RingFile> rings = new ArrayList<>();
    try (DirectoryStream<Path> d =
        Files.newDirectoryStream(tmp.resolve("rings"), "leakwatch-" + p.pid() + "-*.ring")) {
      for (Path r : d) rings.add(RingFile.open(r));
    }
    assertThat(rings).hasSize(2);
    assertThat(rings).allMatch(RingFile::attachedFlag);
    assertThat(rings.stream().filter(RingFile::detachedFlag).count())
        .as("the first recording ended, the second runs")
        .isEqualTo(1);
    for (RingFile r : rings) r.close();
    assertThat(detach(p).status()).isZero();
    assertThat(p.isAlive()).isTrue();
    collector.close();
  }

  @Test
  void aStaticProgramAndAPreloadedOneAreRefusedWithTheReason() throws Exception {
    Said stat =
        attach(start(new ProcessBuilder(Home.nativeDir().resolve("static-target").toString())));
    assertThat(stat.status()).isEqualTo(1);
    assertThat(stat.text()).contains("has no glibc loaded (statically linked");

    ProcessBuilder pb = new ProcessBuilder(Home.nativeDir().resolve("attach-target").toString());
    pb.environment().put("LD_PRELOAD", Home.agent().toString());
    pb.environment().put("LEAKWATCH_RUN_DIR", tmp.resolve("preloaded").toString());
    Said pre = attach(start(pb));
    assertThat(pre.status()).isEqualTo(1);
    assertThat(pre.text()).contains("was started with the shim preloaded: it is tracked already");
  }

  @Test
  void aDetachAfterTheTargetExecdSaysTheRecordingEndedThen() throws Exception {
    Process sh = start(new ProcessBuilder("bash", "-c", "sleep 2; exec sleep 60"));
    Said on = attach(sh);
    assertThat(on.status()).as(on.text()).isZero();
    Thread.sleep(3_000); // bash has exec'd sleep
    Said off = detach(sh);
    assertThat(off.status()).isEqualTo(1);
    assertThat(off.text())
        .contains(
            "has no leakwatch in it (never attached, or it exec'd since: the recording ended then)");
    assertThat(sh.isAlive()).isTrue();
  }

  /**
   * A process that execs between the injector's reading of its maps and its stop (a shell's child a
   * moment before it runs its program, as a fleet's `attach --all` meets them): the call went to
   * dlopen's address in the image it had left and the program died of SIGSEGV (once in about 2,000
   * attaches to `sleep` started from bash). The injector's test hook widens those microseconds to
   * 900 ms; the shell execs in the middle of them.
   */
  @Test
  void aProcessThatExecsDuringTheAttachIsRefusedNotCalledIntoItsOldImage() throws Exception {
    Process sh = new ProcessBuilder("sh", "-c", "sleep 0.5; exec sleep 2").start();
    started.add(sh);
    Thread.sleep(150); // running sh, its exec still to come
    Said said = ended(startAttach(sh.pid(), "exec", "LEAKWATCH_INJECT_TEST_PAUSE_MS", "900"));
    assertThat(said.status()).as(said.text()).isEqualTo(3);
    assertThat(said.text()).contains("started another program (exec) during the attach: try again");
    assertThat(sh.waitFor(10, TimeUnit.SECONDS)).isTrue();
    assertThat(sh.exitValue()).as("the program it exec'd ran to its end").isZero();
  }

  /**
   * Another thread execs while the injector holds the main thread stopped. The exec kills the held
   * thread and its address space; the new program takes the process's id, and with ASLR off
   * (setarch -R) its stack lies where the old one was. The writes went by pid, so they landed in
   * the new program's stack (the settings string was found there); now they go through
   * /proc/PID/task/TID/mem, opened at the stop and proven by the registers read after it, which
   * holds the old address space and reaches nothing. Two moments, each held 700 ms by a hook: right
   * after the stop (before the file is opened), and between the checks and the writes.
   */
  @ParameterizedTest
  @ValueSource(
      strings = {
        "LEAKWATCH_INJECT_TEST_PAUSE_AFTER_STOP_MS",
        "LEAKWATCH_INJECT_TEST_PAUSE_BEFORE_WRITES_MS"
      })
  void anExecByAnotherThreadWhileOneIsHeldWritesNothingIntoTheNewProgram(String hook)
      throws Exception {
    String script =
        "import os, sys, threading, time\n"
            + "def later():\n"
            + "    time.sleep(0.6)\n"
            + "    os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(3)'])\n"
            + "threading.Thread(target=later, daemon=True).start()\n"
            + "while True: time.sleep(0.05)\n";
    Process py = new ProcessBuilder("setarch", "-R", "python3", "-c", script).start();
    started.add(py);
    Thread.sleep(300); // its second thread's exec still to come
    Said said = ended(startAttach(py.pid(), "execmark", hook, "700"));
    assertThat(said.status()).as(said.text()).isEqualTo(3);
    assertThat(said.text()).contains("started another program (exec) during the attach: try again");
    assertThat(new String(Files.readAllBytes(Path.of("/proc/" + py.pid() + "/cmdline"))))
        .as("the new program runs")
        .contains("time.sleep(3)");
    assertThat(stackHolds(py.pid(), tmp.resolve("execmark").toString()))
        .as("the injector's settings in the new program's stack")
        .isFalse();
    assertThat(py.waitFor(10, TimeUnit.SECONDS)).isTrue();
    assertThat(py.exitValue()).as("the program it exec'd ran to its end").isZero();
  }

  /** Whether the process's main stack holds the text (read through /proc/PID/mem). */
  private static boolean stackHolds(long pid, String text) throws Exception {
    for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/maps"))) {
      if (!line.endsWith("[stack]")) continue;
      String[] range = line.substring(0, line.indexOf(' ')).split("-");
      long lo = Long.parseUnsignedLong(range[0], 16), hi = Long.parseUnsignedLong(range[1], 16);
      ByteBuffer stack = ByteBuffer.allocate((int) (hi - lo));
      try (FileChannel mem = FileChannel.open(Path.of("/proc/" + pid + "/mem"))) {
        while (stack.hasRemaining() && mem.read(stack, lo + stack.position()) > 0) {}
      }
      return new String(stack.array(), 0, stack.position(), StandardCharsets.ISO_8859_1)
          .contains(text);
    }
    return false;
  }

  /**
   * A vfork child (posix_spawn's, system()'s) runs in its parent's memory until it execs: the
   * attach used to answer "ok" for the child while the dlopen loaded the shim into the parent and
   * started the parent's recording, from the child's small stack.
   */
  @Test
  void aVforkChildIsRefusedAndItsParentLeftUntouched() throws Exception {
    Process parent = start(new ProcessBuilder(Home.nativeDir().resolve("vfork-target").toString()));
    ProcessHandle child = parent.toHandle().children().findFirst().orElseThrow();
    Said said = ended(startAttach(child.pid(), "vfork"));
    assertThat(said.status()).as(said.text()).isEqualTo(3);
    assertThat(said.text())
        .contains("runs in its parent's memory (a vfork child about to start a program)");
    assertThat(Files.readString(Path.of("/proc/" + parent.pid() + "/maps")))
        .doesNotContain("libleakwatch");
    assertThat(parent.waitFor(20, TimeUnit.SECONDS)).isTrue();
    assertThat(parent.exitValue()).as("its child exec'd and exited 0, and it churned").isZero();
  }

  /**
   * A thread inside the loader, even in one of its system calls, is in the middle of a load and
   * holds the loader's lock: CPython loading a "library" that is a FIFO waits in ld.so's openat.
   * Our dlopen used to run there, nested in the half-done load (the review of 2026-12-07); now no
   * thread is a safe point, and the load goes on as if nothing happened.
   */
  @Test
  void aThreadInsideTheLoaderIsNotCalledInto() throws Exception {
    Path fifo = tmp.resolve("library.fifo");
    assertThat(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor()).isZero();
    Path out = tmp.resolve("python.log");
    Process py =
        new ProcessBuilder("python3", "-c", "import ctypes; ctypes.CDLL('" + fifo + "')")
            .redirectErrorStream(true)
            .redirectOutput(out.toFile())
            .start();
    started.add(py);
    long until = System.currentTimeMillis() + 10_000;
    while (System.currentTimeMillis() < until
        && !Files.readString(Path.of("/proc/" + py.pid() + "/syscall")).startsWith("257 "))
      Thread.sleep(20); // openat: waiting for a writer
    Said said = ended(startAttach(py.pid(), "loader"));
    assertThat(said.status()).as(said.text()).isEqualTo(7);
    assertThat(said.text()).contains("could be stopped outside the allocator and the loader");
    assertThat(Files.readString(Path.of("/proc/" + py.pid() + "/maps")))
        .doesNotContain("libleakwatch");
    Files.writeString(fifo, "not an ELF file\n");
    assertThat(py.waitFor(10, TimeUnit.SECONDS)).isTrue();
    assertThat(Files.readString(out)).contains("OSError");
    assertThat(py.exitValue()).as("an exception, not a signal").isEqualTo(1);
  }

  /**
   * Another thread waiting inside the loader holds its lock: our dlopen on the stopped thread
   * waited as long as that load (for ever on a FIFO), and the injector with it, deaf to SIGTERM.
   * Now the attach is refused at once, with the thread named.
   */
  @Test
  void anotherThreadWaitingInTheLoaderRefusesTheAttachInsteadOfHangingIt() throws Exception {
    Path fifo = tmp.resolve("library2.fifo");
    assertThat(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor()).isZero();
    Process py =
        new ProcessBuilder(
                "python3",
                "-c",
                "import ctypes, threading, time\n"
                    + "threading.Thread(target=lambda: ctypes.CDLL('"
                    + fifo
                    + "'), daemon=True).start()\n"
                    + "time.sleep(60)")
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .start();
    started.add(py);
    long until = System.currentTimeMillis() + 10_000;
    boolean waiting = false;
    while (!waiting && System.currentTimeMillis() < until) {
      Thread.sleep(20);
      try (DirectoryStream<Path> tasks =
          Files.newDirectoryStream(Path.of("/proc/" + py.pid() + "/task"))) {
        for (Path t : tasks) waiting |= Files.readString(t.resolve("syscall")).startsWith("257 ");
      }
    }
    assertThat(waiting).as("a thread waits in openat on the FIFO").isTrue();
    Said said = ended(startAttach(py.pid(), "loader2"));
    assertThat(said.status()).as(said.text()).isEqualTo(3);
    assertThat(said.text()).contains("is loading a library (waiting in the loader): try again");
    assertThat(Files.readString(Path.of("/proc/" + py.pid() + "/maps")))
        .doesNotContain("libleakwatch");
    assertThat(py.isAlive()).isTrue();
  }

  /**
   * A SIGSTOP and then a SIGCONT while the injector holds a thread (a job-control user, a batch
   * scheduler suspending and resuming): the injector used to send the stop again at its release,
   * leaving the process stopped with nobody to continue it. A SIGSTOP alone still leaves it stopped
   * (the kernel stops the released thread again). The test hook holds each of the two calls 600 ms.
   */
  @Test
  void aStopAndAContinueDuringTheAttachLeaveTheProcessRunning() throws Exception {
    for (boolean continued : new boolean[] {true, false}) {
      Process p = target();
      Process in = startAttach(p.pid(), "stopped", "LEAKWATCH_INJECT_TEST_PAUSE_IN_CALL_MS", "600");
      Thread.sleep(150);
      signal("STOP", p.pid());
      Thread.sleep(750);
      if (continued) signal("CONT", p.pid());
      Said said = ended(in);
      assertThat(said.status()).as(said.text()).isZero();
      Thread.sleep(500);
      String state = Files.readString(Path.of("/proc/" + p.pid() + "/stat"));
      state = state.substring(state.lastIndexOf(')') + 2, state.lastIndexOf(')') + 3);
      if (continued) assertThat(state).as("continued, it runs").isNotEqualTo("T");
      else assertThat(state).as("stopped, it stays stopped").isEqualTo("T");
      signal("CONT", p.pid());
    }
  }

  private static void signal(String name, long pid) throws Exception {
    assertThat(new ProcessBuilder("kill", "-" + name, Long.toString(pid)).start().waitFor())
        .isZero();
  }

  /** registers-target, its output in a file: it checks sixteen AVX and five general registers. */
  private Process registersTarget(Path out) throws Exception {
    Process p =
        new ProcessBuilder(Home.nativeDir().resolve("registers-target").toString())
            .redirectErrorStream(true)
            .redirectOutput(out.toFile())
            .start();
    started.add(p);
    long until = System.currentTimeMillis() + 10_000;
    while (!Files.readString(out).contains("ready") && System.currentTimeMillis() < until)
      Thread.sleep(20);
    return p;
  }

  /** The injector run with its test hook: it kills itself (SIGKILL) right after starting call n. */
  private int injectDyingInCall(long pid, int n) throws Exception {
    Process in =
        startInjector(
            pid,
            "LEAKWATCH_SAMPLE_BYTES=0\nLEAKWATCH_RUN_DIR=" + tmp.resolve("rings"),
            "LEAKWATCH_INJECT_TEST_DIE_IN_CALL",
            Integer.toString(n));
    return ended(in).status();
  }

  @Test
  void theBorrowedThreadGetsEveryRegisterBackAvxIncluded() throws Exception {
    Path out = tmp.resolve("registers.log");
    Process p = registersTarget(out);
    for (int i = 0; i < 10; i++) {
      injectOk("attach", p.pid(), 0);
      injectOk("detach", p.pid(), 0);
    }
    Thread.sleep(1_200); // a round or more after the last detach
    assertThat(Files.readString(out)).doesNotContain("CORRUPT");
    assertThat(p.isAlive()).isTrue();
  }

  /**
   * The injector killed (kill -9) in the middle of its calls into the target: the borrowed thread
   * returns through a signal frame that gives it every register back (it used to return to address
   * 0 and crash the process). Killed in the dlopen, the shim is loaded and idle; killed in the call
   * that starts the recording, the recording runs (the call completed) and a detach ends it.
   */
  @Test
  void theTargetSurvivesTheInjectorKilledInTheMiddleOfACall() throws Exception {
    Path out = tmp.resolve("registers.log");
    Process p = registersTarget(out);
    for (int round = 0; round < 3; round++) {
      assertThat(injectDyingInCall(p.pid(), 1)).as("killed in dlopen").isEqualTo(128 + 9);
      Thread.sleep(300);
      assertThat(p.isAlive()).isTrue();
      assertThat(injectDyingInCall(p.pid(), 2)).as("killed in leakwatch_attach").isEqualTo(128 + 9);
      Thread.sleep(300);
      assertThat(p.isAlive()).isTrue();
      assertThat(injectOk("detach", p.pid(), 0)).startsWith("ok");
    }
    injectOk("attach", p.pid(), 0);
    injectOk("detach", p.pid(), 0);
    Thread.sleep(1_200);
    assertThat(Files.readString(out)).doesNotContain("CORRUPT").contains("rounds");
    assertThat(p.isAlive()).isTrue();
  }

  @Test
  void aTargetThatDiesAroundTheAttachEndsWithAClearMessage() throws Exception {
    Path inject = Injector.binary();
    int done = 0, gone = 0;
    for (int i = 0; i < 20; i++) {
      Process p = new ProcessBuilder("sleep", "0." + (i % 5)).start();
      Thread.sleep(i % 7 * 20);
      Process in =
          new ProcessBuilder(
                  inject.toString(),
                  "attach",
                  Long.toString(p.pid()),
                  Home.agent().toString(),
                  "LEAKWATCH_RUN_DIR=" + tmp.resolve("short"))
              .redirectErrorStream(true)
              .start();
      assertThat(in.waitFor(30, TimeUnit.SECONDS)).as("never hangs").isTrue();
      String said = new String(in.getInputStream().readAllBytes()).trim();
      if (in.exitValue() == 0) done++;
      else if (in.exitValue() == 3) // caught around its exec (Java's spawn helper runs sleep)
      assertThat(said)
            .containsAnyOf(
                "has not loaded its C library yet (it is starting): try again",
                "started another program (exec) during the attach: try again");
      else {
        assertThat(in.exitValue()).as(said).isEqualTo(5);
        assertThat(said).containsAnyOf("exited during the attach", "no process", "cannot read");
        gone++;
      }
      assertThat(p.waitFor(10, TimeUnit.SECONDS)).as("never left stopped").isTrue();
      assertThat(p.exitValue()).as("never killed").isZero();
    }
    System.out.println("attach to dying processes: " + done + " attached, " + gone + " gone first");
    assertThat(gone).isPositive();
  }

  @Test
  void anotherUsersProcessIsRefusedForLackOfPermission() throws Exception {
    Process root = target();
    Path dir = Files.createDirectories(tmp.resolve("bin"));
    Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
    Path inject = dir.resolve("leakwatch-inject");
    Files.copy(Injector.binary(), inject);
    Path shim = dir.resolve("libleakwatch.so");
    Files.copy(Home.agent(), shim);
    Process in =
        new ProcessBuilder(
                "runuser",
                "-u",
                "nobody",
                "--",
                inject.toString(),
                "attach",
                Long.toString(root.pid()),
                shim.toString(),
                "LEAKWATCH_RUN_DIR=/tmp")
            .redirectErrorStream(true)
            .start();
    assertThat(in.waitFor(30, TimeUnit.SECONDS)).isTrue();
    String said = new String(in.getInputStream().readAllBytes()).trim();
    assertThat(in.exitValue()).as(said).isEqualTo(4);
    assertThat(said).contains("not allowed to trace pid " + root.pid());
    assertThat(root.isAlive()).isTrue();
  }

  @Test
  void signalsSentDuringAttachAndDetachAreAllDelivered() throws Exception {
    AutoCloseable collector = NativeRuns.actAsCollector(tmp.resolve("rings"));
    // Flat out (no pacing): a paced target, in nanosleep when most signals arrive, counted fewer
    // than were sent even with no leakwatch anywhere near it (about 1 in 5 with 5 ms between
    // signals, on this kernel); busy in malloc it counts every one, bare.
    Process p =
        new ProcessBuilder(Home.nativeDir().resolve("attach-target").toString(), "10", "0")
            .redirectErrorStream(true)
            .start();
    started.add(p);
    AttachEndToEndTest.Output out = new AttachEndToEndTest.Output(p);
    out.await("ready", 1);
    int sent = 400;
    Process sender =
        new ProcessBuilder(
                "bash",
                "-c",
                "for i in $(seq "
                    + sent
                    + "); do kill -s RTMIN+1 "
                    + p.pid()
                    + "; sleep 0.005; done")
            .start();
    List<Double> pauses = new ArrayList<>();
    java.util.regex.Pattern paused = java.util.regex.Pattern.compile("paused_us=(\\d+)");
    while (sender.isAlive() || pauses.size() < 10) {
      for (String op : List.of("attach", "detach")) {
        String said = injectOk(op, p.pid(), 4096);
        java.util.regex.Matcher m = paused.matcher(said);
        if (m.find()) pauses.add(Long.parseLong(m.group(1)) / 1000.0);
      }
    }
    assertThat(sender.exitValue()).isZero();
    long deadline = System.currentTimeMillis() + 10_000;
    String last = "";
    while (System.currentTimeMillis() < deadline && !last.contains("rt_signals " + sent)) {
      for (String l : out.lines) if (l.contains("rt_signals")) last = l;
      Thread.sleep(200);
    }
    java.util.Collections.sort(pauses);
    System.out.printf(
        "attach/detach under a signal storm: %d cycles, target paused median %.2f ms, max %.2f ms%n",
        pauses.size() / 2, pauses.get(pauses.size() / 2), pauses.get(pauses.size() - 1));
    assertThat(pauses.size()).isGreaterThanOrEqualTo(2);
    assertThat(last).as("every queued signal handled").contains("rt_signals " + sent);
    assertThat(p.isAlive()).isTrue();
    collector.close();
  }

  @Test
  void aProcessInAnotherMountNamespaceOrWithAnotherLibcIsRefused() throws Exception {
    Path copy = Files.createDirectories(tmp.resolve("ns")).resolve("attach-target");
    Files.copy(Home.nativeDir().resolve("attach-target"), copy);
    // the shim's directory hidden under an empty tmpfs in its own mount namespace
    Said hidden =
        attach(
            start(
                new ProcessBuilder(
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    "mount -t tmpfs tmpfs " + Home.nativeDir() + " && exec " + copy + " 10")));
    assertThat(hidden.status()).as(hidden.text()).isEqualTo(1);
    assertThat(hidden.text()).contains("sees no " + Home.agent() + " of its own at that path");

    // a copy of libc bound over the real one: another file, as in a container's image
    Path libc = Path.of("/lib/x86_64-linux-gnu/libc.so.6").toRealPath();
    Path otherLibc = tmp.resolve("ns").resolve("libc.so.6");
    Files.copy(libc, otherLibc);
    Said other =
        attach(
            start(
                new ProcessBuilder(
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    "mount --bind " + otherLibc + " " + libc + " && exec " + copy + " 10")));
    assertThat(other.status()).as(other.text()).isEqualTo(1);
    assertThat(other.text()).contains("runs with another C library");
  }

  @Test
  void threadsBusyInTheAllocatorAreAttachedAtASafePoint() throws Exception {
    AutoCloseable collector = NativeRuns.actAsCollector(tmp.resolve("rings"));
    // Threads that do nothing but malloc and free: churn's two (its main thread waits for them),
    // and a single-threaded loop whose only thread is nearly always inside malloc or free.
    Process churn =
        start(
            new ProcessBuilder(
                Home.nativeDir().resolve("churn").toString(),
                "-t",
                "2",
                "-p",
                "2000000000",
                "-n",
                "0"));
    Process loop =
        start(new ProcessBuilder(Home.nativeDir().resolve("attach-target").toString(), "10", "0"));
    java.util.regex.Pattern stopsSaid = java.util.regex.Pattern.compile("stops=(\\d+)");
    for (Process busy : List.of(churn, loop)) {
      int cycles = 0, stops = 0;
      for (int i = 0; i < 20; i++) {
        for (String op : List.of("attach", "detach")) {
          String said = injectOk(op, busy.pid(), 65536);
          java.util.regex.Matcher m = stopsSaid.matcher(said);
          if (m.find()) stops += Integer.parseInt(m.group(1));
        }
        cycles++;
        assertThat(busy.isAlive()).isTrue();
      }
      System.out.printf(
          "attach/detach of %s: %d cycles, %d stops (a stop inside the allocator or the loader is"
              + " let go and tried again)%n",
          busy == churn ? "churn -t 2" : "a single thread in a malloc/free loop", cycles, stops);
      Thread.sleep(300);
      assertThat(busy.isAlive()).as("still running, not deadlocked or crashed").isTrue();
      long before = busy.info().totalCpuDuration().orElseThrow().toMillis();
      Thread.sleep(500);
      assertThat(busy.info().totalCpuDuration().orElseThrow().toMillis())
          .as("still making progress")
          .isGreaterThan(before);
    }
    collector.close();
  }

  @Test
  void aProcessOfTheSameUserIsAttachedAndDetachedWithoutRoot() throws Exception {
    Path dir = Files.createDirectories(tmp.resolve("user"));
    Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
    for (String f : List.of("leakwatch-inject", "libleakwatch.so", "attach-target"))
      Files.copy(Home.nativeDir().resolve(f), dir.resolve(f));
    Path rings = Files.createDirectories(dir.resolve("rings"));
    new ProcessBuilder("chown", "nobody", rings.toString()).start().waitFor();
    Process runuser =
        start(
            new ProcessBuilder(
                "runuser", "-u", "nobody", "--", dir.resolve("attach-target").toString(), "10"));
    ProcessHandle target =
        runuser.children().findFirst().orElse(runuser.toHandle()); // runuser may fork or exec
    for (String op : List.of("attach", "detach")) {
      Process in =
          new ProcessBuilder(
                  "runuser",
                  "-u",
                  "nobody",
                  "--",
                  dir.resolve("leakwatch-inject").toString(),
                  op,
                  Long.toString(target.pid()),
                  dir.resolve("libleakwatch.so").toString(),
                  "LEAKWATCH_SAMPLE_BYTES=0\nLEAKWATCH_RUN_DIR=" + rings)
              .redirectErrorStream(true)
              .start();
      assertThat(in.waitFor(30, TimeUnit.SECONDS)).isTrue();
      String said = new String(in.getInputStream().readAllBytes()).trim();
      assertThat(in.exitValue()).as(op + " as nobody: " + said).isZero();
      assertThat(said).startsWith("ok tid=");
    }
    assertThat(target.isAlive()).isTrue();
  }

  @Test
  void aProcessUnderASeccompFilterIsRefusedUnlessAllowed() throws Exception {
    ProcessBuilder pb =
        new ProcessBuilder(Home.nativeDir().resolve("attach-target").toString(), "10");
    pb.environment().put("ATTACH_TARGET_SECCOMP", "1");
    Process p = start(pb);
    Said refused = attach(p);
    assertThat(refused.status()).isEqualTo(1);
    assertThat(refused.text()).contains("runs under a seccomp filter");
    ProcessBuilder in =
        new ProcessBuilder(
                Injector.binary().toString(),
                "attach",
                Long.toString(p.pid()),
                Home.agent().toString(),
                "LEAKWATCH_RUN_DIR=" + tmp.resolve("rings"))
            .redirectErrorStream(true);
    in.environment().put("LEAKWATCH_ATTACH_SECCOMP", "allow");
    Process run = in.start();
    assertThat(run.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(run.exitValue()).as(new String(run.getInputStream().readAllBytes())).isZero();
    assertThat(p.isAlive()).isTrue();
  }

  @Test
  void cpythonAllocatingFlatOutIsAttachedAndDetachedAgainAndAgain() throws Exception {
    // Debian's python3.11: a non-PIE executable (its PLT entry is malloc's canonical address), in
    // an allocation loop that keeps its only thread in malloc, free or the shim most of the time.
    AutoCloseable collector = NativeRuns.actAsCollector(tmp.resolve("rings"));
    Process py =
        new ProcessBuilder(
                "/usr/bin/python3.11",
                "-c",
                "import time\n"
                    + "t = time.time(); n = 0\n"
                    + "while time.time() - t < 12:\n"
                    + "    x = [bytes(600 + i) for i in range(1000)]; n += 1\n"
                    + "print('rounds', n > 0)\n")
            .redirectErrorStream(true)
            .start();
    started.add(py);
    Thread.sleep(500);
    // 12 cycles: with the shim's real malloc taken as python's own PLT entry, one attach in three
    // to
    // six recursed until the stack ran out (clean-clone run 17); five cycles missed it two runs in
    // three.
    for (int i = 0; i < 12; i++) {
      injectOk("attach", py.pid(), 0);
      Thread.sleep(300);
      long written = 0;
      try (DirectoryStream<Path> d =
          Files.newDirectoryStream(tmp.resolve("rings"), "leakwatch-" + py.pid() + "-*.ring")) {
        for (Path r : d)
          try (RingFile ring = RingFile.open(r)) {
            if (!ring.detachedFlag()) written = ring.writePosition();
          }
      }
      assertThat(written)
          .as("its allocations reach the shim while attached (cycle " + i + ")")
          .isGreaterThan(1 << 20);
      injectOk("detach", py.pid(), 0);
      Thread.sleep(200);
    }
    assertThat(py.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(new String(py.getInputStream().readAllBytes()).trim()).isEqualTo("rounds True");
    assertThat(py.exitValue()).isZero();
    collector.close();
  }
}
