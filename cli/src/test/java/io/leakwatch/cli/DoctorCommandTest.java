package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.kafka.EmbeddedKafka;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code ./leakwatch doctor} on this machine: what passes, and what it says of what does not. */
class DoctorCommandTest {
  @TempDir Path tmp;

  private record Outcome(int code, String out) {}

  private static Outcome doctor(String... args) {
    StringWriter out = new StringWriter();
    CommandLine cl = CliErrors.install(new CommandLine(new Main()));
    cl.setOut(new PrintWriter(out));
    String[] all = new String[args.length + 1];
    all[0] = "doctor";
    System.arraycopy(args, 0, all, 1, args.length);
    int code = cl.execute(all);
    System.out.println(out);
    return new Outcome(code, out.toString());
  }

  private static int closedPort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @Test
  void aHealthyHostWithKafkaPassesAndMeasuresTheClock() throws Exception {
    Path run = Files.createDirectory(tmp.resolve("run"));
    Files.setPosixFilePermissions(run, PosixFilePermissions.fromString("rwxrwxrwx"));
    Files.setAttribute(run, "unix:mode", 01777);
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      Outcome o =
          doctor(
              "--run-dir", run.toString(),
              "--collector-url", "http://127.0.0.1:" + closedPort(),
              "--bootstrap", kafka.bootstrapServers(),
              "--preload-file", tmp.resolve("no-preload").toString());
      assertThat(o.code()).as(o.out()).isZero();
      assertThat(o.out())
          .containsPattern("ok +run directory .*rwxrwxrwx \\(sticky\\)")
          .containsPattern("(ok|warn) +ring space .*room for [0-9,]+ sampled rings of 8.0 MiB")
          .containsPattern("ok +shim .*libleakwatch.so loads")
          .containsPattern("warn +collector +none answers at")
          .containsPattern("ok +kafka .*1 broker")
          .containsPattern("ok +clock skew +the brokers' clock is [+-][0-9]+ ms")
          .contains("doctor: nothing failed.");
    }
  }

  @Test
  void saysWhomAttachCanReach() {
    DoctorCommand.Check attach = DoctorCommand.ptrace();
    assertThat(attach.status()).as(attach.toString()).isEqualTo(DoctorCommand.Status.OK);
    assertThat(attach.detail())
        .contains(
            "root".equals(System.getProperty("user.name"))
                ? "can attach to any process"
                : "can attach to this user's own processes");
  }

  @Test
  void saysWhetherFramesWillHaveFileAndLine() {
    DoctorCommand.Check none = DoctorCommand.sourceLines(null, null);
    assertThat(none.status()).isEqualTo(DoctorCommand.Status.WARN);
    assertThat(none.detail()).contains("apt-get install llvm");
    DoctorCommand.Check local = DoctorCommand.sourceLines("/usr/bin/llvm-symbolizer", " ");
    assertThat(local.status()).isEqualTo(DoctorCommand.Status.OK);
    assertThat(local.detail()).contains("DEBUGINFOD_URLS unset");
    assertThat(DoctorCommand.sourceLines("/usr/bin/llvm-symbolizer", "https://d.example").detail())
        .contains("debuginfod: https://d.example");
  }

  @Test
  void whatIsWrongFailsWithWhatToDo() throws Exception {
    Path run = Files.createDirectory(tmp.resolve("run"));
    Files.setPosixFilePermissions(
        run, PosixFilePermissions.fromString("rwxrwxrwx")); // no sticky bit
    Path preload = tmp.resolve("ld.so.preload");
    Files.writeString(preload, "/opt/gone/libleakwatch.so\n");
    Outcome o =
        doctor(
            "--run-dir",
            run.toString(),
            "--collector-url",
            "http://127.0.0.1:" + closedPort(),
            "--bootstrap",
            "127.0.0.1:" + closedPort(),
            "--preload-file",
            preload.toString());
    assertThat(o.code()).isEqualTo(1);
    assertThat(o.out())
        .containsPattern("fail +run directory .*without the sticky bit.*chmod 1777")
        .containsPattern("fail +ld.so.preload .*/opt/gone/libleakwatch.so, which is not there")
        .containsPattern("fail +kafka .*does not answer")
        .contains("doctor: fix the failed checks before a rollout.");
  }
}
