package io.leakwatch.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** ./leakwatch: the commands of DESIGN.md. */
@Command(name = "leakwatch", mixinStandardHelpOptions = true, version = "leakwatch 0.1.0",
    description = "Finds native memory leaks: tracks allocations with call stacks and reports what is never freed.",
    subcommands = {RunCommand.class, DemoCommand.class, BrokerCommand.class, CollectorCommand.class,
        StreamsCommand.class, ReportCommand.class, AgentPathCommand.class, BenchCommand.class, ControlCommand.class})
public final class Main implements Runnable {
  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  public static void main(String[] args) {
    System.exit(new CommandLine(new Main()).execute(args));
  }
}
