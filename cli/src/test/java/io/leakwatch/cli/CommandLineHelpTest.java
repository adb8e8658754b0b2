package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** Every command and subcommand answers --help and --version, as a Unix tool does. */
class CommandLineHelpTest {
  private record Outcome(int code, String out, String err) {}

  private static Outcome run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cl = new CommandLine(new Main());
    cl.setOut(new PrintWriter(out));
    cl.setErr(new PrintWriter(err));
    int code = cl.execute(args);
    return new Outcome(code, out.toString(), err.toString());
  }

  private static void commandPaths(CommandLine cl, List<String> prefix, List<List<String>> paths) {
    for (var e : cl.getSubcommands().entrySet()) {
      List<String> path = new ArrayList<>(prefix);
      path.add(e.getKey());
      paths.add(path);
      commandPaths(e.getValue(), path, paths);
    }
  }

  @Test
  void everyCommandHasHelp() {
    List<List<String>> paths = new ArrayList<>();
    commandPaths(new CommandLine(new Main()), List.of(), paths);
    assertThat(paths)
        .extracting(p -> String.join(" ", p))
        .contains("run", "collector", "streams", "bench native");
    for (List<String> path : paths) {
      List<String> args = new ArrayList<>(path);
      args.add("--help");
      Outcome o = run(args.toArray(String[]::new));
      assertThat(o.code()).as(String.join(" ", args) + ": " + o.err()).isZero();
      assertThat(o.out())
          .as(String.join(" ", args))
          .contains("Usage: leakwatch " + String.join(" ", path));
      if (path.size() == 1
          && !path.get(0).equals("generate-completion")
          && !path.get(0).equals("bench")) {
        assertThat(o.out()).as(String.join(" ", args) + " shows examples").contains("Examples:");
      }
    }
  }

  @Test
  void versionNamesTheBuild() {
    Outcome top = run("--version");
    assertThat(top.code()).isZero();
    assertThat(top.out()).startsWith("leakwatch ").contains("Java ");
    assertThat(run("run", "--version").out()).isEqualTo(top.out());
  }
}
