package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** Mistakes give one line and a hint with a distinct exit status, never a Java stack trace. */
class CommandLineErrorsTest {
  private record Outcome(int code, String err) {}

  @TempDir Path tmp;

  private static Outcome run(String... args) {
    StringWriter out = new StringWriter(), err = new StringWriter();
    CommandLine cl = CliErrors.install(new CommandLine(new Main()));
    cl.setOut(new PrintWriter(out));
    cl.setErr(new PrintWriter(err));
    int code = cl.execute(args);
    return new Outcome(code, err.toString());
  }

  private static void assertShort(Outcome o) {
    assertThat(o.err())
        .as("no stack trace")
        .doesNotContain("\tat ")
        .doesNotContain("Exception in thread");
    assertThat(o.err().strip().split("\n")).as(o.err()).hasSizeBetween(1, 3);
  }

  @Test
  void aCommandThatDoesNotExist() {
    Outcome o = run("raport");
    assertThat(o.code()).isEqualTo(CliErrors.USAGE);
    assertThat(o.err()).contains("raport").contains("report"); // the suggestion
    assertShort(o);
  }

  @Test
  void aValueAnOptionCannotTake() {
    Outcome o = run("report", "--pid", "twelve");
    assertThat(o.code()).isEqualTo(CliErrors.USAGE);
    assertThat(o.err()).contains("--pid").contains("twelve").contains("--help");
    assertShort(o);
  }

  @Test
  void noStreamsAppAtTheUrl() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    Outcome o = run("report", "--url", "http://127.0.0.1:" + port);
    assertThat(o.code()).isEqualTo(CliErrors.UNREACHABLE);
    assertThat(o.err())
        .contains("nothing answers at http://127.0.0.1:" + port)
        .contains("streams-app");
    assertShort(o);
  }

  @Test
  void aPortAlreadyTaken() throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      Outcome o =
          assertTimeoutPreemptively(
              Duration.ofSeconds(60),
              () ->
                  run(
                      "collector",
                      "--bootstrap",
                      "127.0.0.1:1",
                      "--run-dir",
                      tmp.resolve("rings").toString(),
                      "--http-port",
                      Integer.toString(taken.getLocalPort())));
      assertThat(o.code()).as(o.err()).isEqualTo(CliErrors.PORT_TAKEN);
      assertThat(o.err()).contains(Integer.toString(taken.getLocalPort())).contains("--http-port");
      assertShort(o);
    }
  }

  @Test
  void aRunDirectoryThatCannotBeMade() throws Exception {
    Path file = Files.writeString(tmp.resolve("a-file"), "not a directory");
    Outcome o =
        assertTimeoutPreemptively(
            Duration.ofSeconds(60),
            () ->
                run(
                    "collector",
                    "--bootstrap",
                    "127.0.0.1:1",
                    "--run-dir",
                    file.resolve("rings").toString(),
                    "--http-port",
                    "0"));
    assertThat(o.code()).as(o.err()).isEqualTo(CliErrors.NO_PERMISSION);
    assertThat(o.err()).contains(file.toString());
    assertShort(o);
  }

  /** The completion script bash loads: it completes commands and their options. */
  @Test
  void shellCompletionCompletesCommandsAndOptions() throws Exception {
    StringWriter out = new StringWriter();
    CommandLine cl = CliErrors.install(new CommandLine(new Main()));
    cl.setOut(new PrintWriter(out));
    assertThat(cl.execute("generate-completion")).isZero();
    Path script = Files.writeString(tmp.resolve("leakwatch-completion.bash"), out.toString());
    // compopt only works inside a real completion: a no-op stands in for it here
    String probe =
        "compopt() { :; }\nsource "
            + script
            + "\n"
            + "COMP_WORDS=(leakwatch rep); COMP_CWORD=1; COMP_LINE='leakwatch rep'; COMP_POINT=${#COMP_LINE}; _complete_leakwatch; echo \"${COMPREPLY[@]}\"\n"
            + "COMP_WORDS=(leakwatch report --fo); COMP_CWORD=2; COMP_LINE='leakwatch report --fo'; COMP_POINT=${#COMP_LINE}; _complete_leakwatch; echo \"${COMPREPLY[@]}\"\n";
    Process bash = new ProcessBuilder("bash", "-c", probe).redirectErrorStream(true).start();
    String answer = new String(bash.getInputStream().readAllBytes());
    assertThat(bash.waitFor()).as(answer).isZero();
    assertThat(answer.split("\n")[0]).contains("report");
    assertThat(answer.split("\n")[1]).contains("--format");
  }
}
