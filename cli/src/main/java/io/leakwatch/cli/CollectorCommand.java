package io.leakwatch.cli;

import io.leakwatch.collector.CollectorConfig;
import io.leakwatch.collector.CollectorMain;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "collector", description = "Runs the per-host collector daemon.")
final class CollectorCommand implements Callable<Integer> {
  @Option(names = "--bootstrap", required = true, description = "Kafka bootstrap servers, H:P")
  String bootstrap;

  @Option(names = "--http-port", defaultValue = "9400", description = "own /metrics port on 127.0.0.1 (default ${DEFAULT-VALUE})")
  int httpPort;

  @Option(names = "--run-dir", description = "where the shims write rings (default /dev/shm/leakwatch, or LEAKWATCH_RUN_DIR)")
  Path runDir;

  @Option(names = "--bind", defaultValue = "127.0.0.1", description = "HTTP address (default ${DEFAULT-VALUE}; 0.0.0.0 in a container)")
  String bind;

  @Override
  public Integer call() throws Exception {
    Path dir = runDir != null ? runDir : CollectorConfig.runDirFromEnvironment();
    CollectorMain.run(CollectorConfig.defaults(bootstrap).withHttpPort(httpPort).withHttpBind(bind).withRunDir(dir));
    return 0;
  }
}
