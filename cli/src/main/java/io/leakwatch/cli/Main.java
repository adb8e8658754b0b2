package io.leakwatch.cli;

import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** ./leakwatch: the commands of DESIGN.md. */
@Command(
    name = "leakwatch",
    mixinStandardHelpOptions = true,
    scope = CommandLine.ScopeType.INHERIT,
    versionProvider = Main.Version.class,
    description =
        "Finds native memory leaks: tracks allocations with call stacks and reports what is never freed.",
    subcommands = {
      RunCommand.class,
      AttachCommand.class,
      DetachCommand.class,
      DemoCommand.class,
      BrokerCommand.class,
      CollectorCommand.class,
      StreamsCommand.class,
      ReportCommand.class,
      AgentPathCommand.class,
      BenchCommand.class,
      ControlCommand.class,
      DoctorCommand.class,
      AutoComplete.GenerateCompletion.class
    })
public final class Main implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  /** The version of the build (the jar's manifest), so --version names what is installed. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = Main.class.getPackage().getImplementationVersion();
      return new String[] {
        "leakwatch " + (v != null ? v : "(classes, not a packaged build)"),
        "Java "
            + System.getProperty("java.version")
            + ", "
            + System.getProperty("os.name")
            + " "
            + System.getProperty("os.arch")
      };
    }
  }

  public static void main(String[] args) {
    System.exit(CliErrors.install(new CommandLine(new Main())).execute(args));
  }
}
