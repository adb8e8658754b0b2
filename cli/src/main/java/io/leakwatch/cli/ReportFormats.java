package io.leakwatch.cli;

import io.leakwatch.streams.render.ReportFormat;
import java.util.Arrays;
import java.util.Iterator;

/** The report formats' names, for picocli's completion and help. */
final class ReportFormats implements Iterable<String> {
  @Override
  public Iterator<String> iterator() {
    return Arrays.stream(ReportFormat.values()).map(ReportFormat::label).iterator();
  }
}
