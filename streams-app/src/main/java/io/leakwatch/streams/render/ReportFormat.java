package io.leakwatch.streams.render;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.leakwatch.streams.report.History;
import io.leakwatch.streams.report.model.ProcessReport;
import io.leakwatch.streams.report.model.ReportJson;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The forms a report can take, for every entry point (the HTTP API's {@code format=}, {@code run
 * --report}, {@code report --format}): one list of names, one dispatch.
 */
public enum ReportFormat {
  TEXT("text/plain; charset=utf-8", false),
  JSON("application/json", false),
  HTML("text/html; charset=utf-8", false),
  /** pprof's profile.proto, gzipped ({@code go tool pprof}). */
  PPROF("application/octet-stream", true);

  private final String contentType;
  private final boolean binary;

  ReportFormat(String contentType, boolean binary) {
    this.contentType = contentType;
    this.binary = binary;
  }

  public String contentType() {
    return contentType;
  }

  /** Not for a terminal. */
  public boolean binary() {
    return binary;
  }

  /** The name users type: "text", "json", "html", "pprof". */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** "text, json, html or pprof", for help and error messages. */
  public static String choices() {
    String all = Arrays.stream(values()).map(ReportFormat::label).collect(Collectors.joining(", "));
    int last = all.lastIndexOf(", ");
    return all.substring(0, last) + " or " + all.substring(last + 2);
  }

  public static Optional<ReportFormat> parse(String label) {
    return Arrays.stream(values()).filter(f -> f.label().equals(label)).findFirst();
  }

  /**
   * The report in this form.
   *
   * @param history the page's history and windows (HTML; null when there is none, as in a remote
   *     {@code run})
   * @param standalone for a file, not a server's client: indented JSON, and an HTML page with its
   *     style, script and data inline and no links to the server
   */
  public byte[] render(ProcessReport report, History history, boolean standalone) {
    return switch (this) {
      case TEXT -> TextReport.render(report).getBytes(StandardCharsets.UTF_8);
      case JSON -> json(report, standalone);
      case HTML ->
          (standalone
                  ? ReportPage.standalone(report, history)
                  : ReportPage.process(report, history))
              .getBytes(StandardCharsets.UTF_8);
      case PPROF -> PprofProfile.of(report);
    };
  }

  private static byte[] json(ProcessReport report, boolean pretty) {
    if (!pretty) return ReportJson.bytes(report);
    try {
      return (ReportJson.MAPPER
                  .writer(SerializationFeature.INDENT_OUTPUT)
                  .writeValueAsString(report)
              + "\n")
          .getBytes(StandardCharsets.UTF_8);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }
}
