package io.leakwatch.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "report", description = "Prints the report of a process from a running streams-app.")
final class ReportCommand implements Callable<Integer> {
  @Option(names = "--url", defaultValue = "http://127.0.0.1:8080", description = "streams-app URL (default ${DEFAULT-VALUE})")
  String url;

  @Option(names = "--host", description = "host of the process")
  String host;

  @Option(names = "--pid", description = "pid of the process (with --host)")
  Integer pid;

  @Option(names = "--process", description = "process name (the largest such process)")
  String process;

  @Option(names = "--format", defaultValue = "text", description = "text or json (default ${DEFAULT-VALUE})")
  String format;

  @Override
  public Integer call() throws Exception {
    if (!format.equals("text") && !format.equals("json")) {
      System.err.println("leakwatch report: --format must be text or json (html and pprof come with the report page work)");
      return 2;
    }
    ReportClient.Response r = new ReportClient(url).get("/api/report" + ReportClient.query(host, pid, process, format));
    if (r.status() != 200) {
      System.err.println("leakwatch report: " + r.status() + " " + r.body());
      return 1;
    }
    System.out.print(r.body());
    if (!r.body().endsWith("\n")) System.out.println();
    return 0;
  }
}
