package io.leakwatch.cli;

import io.leakwatch.streams.render.ReportFormat;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
    name = "report",
    footer = {
      "",
      "Examples:",
      "  ./leakwatch report --process billing",
      "  ./leakwatch report --host web-7 --pid 4242 --format json",
      "  ./leakwatch report --process billing --format html -o billing.html",
      "  ./leakwatch report --url https://streams:8080 --process billing --format pprof -o p.pb.gz"
    },
    description = "Prints the report of a process from a running streams-app.")
final class ReportCommand implements Callable<Integer> {
  @Option(
      names = "--url",
      defaultValue = "http://127.0.0.1:8080",
      description = "streams-app URL (default ${DEFAULT-VALUE})")
  String url;

  @Option(names = "--host", description = "host of the process")
  String host;

  @Option(names = "--pid", description = "pid of the process (with --host)")
  Integer pid;

  @Option(names = "--process", description = "process name (the largest such process)")
  String process;

  @Option(
      names = "--format",
      defaultValue = "text",
      description = "text, json, html or pprof (gzipped profile.proto; default ${DEFAULT-VALUE})",
      completionCandidates = ReportFormats.class)
  String format;

  @Option(
      names = {"-o", "--output"},
      description = "write to this file instead of standard output")
  Path output;

  @Override
  public Integer call() throws Exception {
    Optional<ReportFormat> chosen = ReportFormat.parse(format);
    if (chosen.isEmpty()) {
      System.err.println("leakwatch report: --format must be " + ReportFormat.choices());
      return 2;
    }
    int[] status = new int[1];
    byte[] body =
        new ReportClient(url)
            .getBytes(
                "/api/report"
                    + ReportClient.query(host, pid, process, format)
                    + (chosen.get() == ReportFormat.HTML ? "&standalone=true" : ""),
                status);
    if (status[0] != 200) {
      System.err.println(
          "leakwatch report: " + status[0] + " " + new String(body, StandardCharsets.UTF_8));
      return 1;
    }
    if (output != null) {
      Files.write(output, body);
    } else {
      System.out.write(body);
      if (!chosen.get().binary() && (body.length == 0 || body[body.length - 1] != '\n'))
        System.out.println();
      System.out.flush();
    }
    return 0;
  }
}
