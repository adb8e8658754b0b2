package io.leakwatch.cli;

import io.leakwatch.streams.render.ReportFormat;
import io.leakwatch.streams.report.History;
import io.leakwatch.streams.report.model.ProcessReport;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Option;

/** How a process is tracked and where its report goes: the options `run` and `attach` share. */
final class TrackingOptions {
  static final class Mode {
    @Option(
        names = "--exact",
        description = "record every allocation (exact numbers, higher overhead)")
    boolean exact;

    @Option(
        names = "--sample-bytes",
        paramLabel = "N",
        description = "Poisson sampling, one sample per N bytes on average (default 524288)")
    Long sampleBytes;
  }

  @ArgGroup(exclusive = true)
  Mode mode = new Mode();

  @Option(
      names = "--report",
      defaultValue = "text",
      paramLabel = "FORMAT",
      description = "text, json, html or pprof (default ${DEFAULT-VALUE})",
      completionCandidates = ReportFormats.class)
  String format;

  @Option(
      names = "--report-file",
      paramLabel = "F",
      description = "write the report to F instead of standard output")
  Path reportFile;

  /** 0 = exact mode. */
  long sampleBytes() {
    return mode.exact ? 0 : mode.sampleBytes != null ? mode.sampleBytes : 524288;
  }

  /** Null when the options make sense together, else the one-line complaint (exit status 2). */
  String problem() {
    Optional<ReportFormat> chosen = ReportFormat.parse(format);
    if (chosen.isEmpty()) return "--report must be " + ReportFormat.choices();
    if (chosen.get().binary() && reportFile == null)
      return "--report pprof needs --report-file F (it is binary)";
    if (sampleBytes() < 0) return "--sample-bytes must be positive";
    return null;
  }

  void write(ProcessReport report, History history) throws IOException {
    ReportFormat f = ReportFormat.parse(format).orElseThrow();
    byte[] out = f.render(report, history, true);
    if (reportFile != null) {
      Files.write(reportFile, out);
      System.err.println(
          f == ReportFormat.PPROF
              ? "leakwatch: pprof profile written to "
                  + reportFile
                  + " (go tool pprof -top "
                  + reportFile
                  + ")"
              : "leakwatch: report written to " + reportFile);
    } else {
      System.out.write(out);
      System.out.flush();
    }
  }
}
