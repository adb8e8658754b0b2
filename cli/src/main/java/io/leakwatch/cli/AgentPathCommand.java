package io.leakwatch.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

@Command(
    name = "agent-path",
    footer = {"", "Examples:", "  LD_PRELOAD=$(./leakwatch agent-path) ./my-service"},
    description = "Prints the absolute path of libleakwatch.so (for LD_PRELOAD).")
final class AgentPathCommand implements Callable<Integer> {
  @Override
  public Integer call() {
    System.out.println(Home.agent());
    return 0;
  }
}
