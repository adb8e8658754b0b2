package io.leakwatch.streams.report;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.schemas.StackDefinition;
import io.leakwatch.streams.OversizeRecordHandler;
import io.leakwatch.streams.report.model.AllocatorRow;
import io.leakwatch.streams.report.model.FrameRow;
import io.leakwatch.streams.report.model.ProcessInfo;
import io.leakwatch.streams.report.model.ProcessReport;
import io.leakwatch.streams.report.model.ReportJson;
import io.leakwatch.streams.report.model.ReportSnapshot;
import io.leakwatch.streams.report.model.StackRow;
import io.leakwatch.streams.report.model.Totals;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.streams.errors.ProductionExceptionHandler;
import org.junit.jupiter.api.Test;

/**
 * Reports that travel as one Kafka record stay under the record limit; an oversize record never
 * stops an instance.
 */
class ReportSizeTest {
  private static StackRow stack(int i, long bytes, List<FrameRow> frames) {
    return new StackRow(
        String.format("%016x", i),
        "heap",
        bytes,
        2,
        2,
        0,
        null,
        List.of(),
        frames == null ? null : "libjvm.so",
        frames == null ? null : "c",
        frames);
  }

  /** A report shaped like a JVM's exit report: 500 stacks of 48 frames (2.5 MB measured). */
  private static ProcessReport bigReport() {
    List<StackRow> stacks = new ArrayList<>();
    for (int i = 0; i < 500; i++) {
      List<FrameRow> frames = new ArrayList<>();
      for (int f = 0; f < 48; f++) {
        frames.add(
            new FrameRow(
                "libjvm.so",
                "void java.util.zip.Inflater.inflateBytesBytes(long)",
                0x1234 + f,
                null,
                null,
                false,
                0,
                null,
                "libjvm.so!SomeRatherLongFunctionName+0x" + Integer.toHexString(f)));
      }
      stacks.add(stack(i, 1_000_000L - i, frames));
    }
    return new ProcessReport(
        null,
        null,
        new Totals(123456789L, 500),
        List.of(new AllocatorRow("libjvm.so", 123456789L, 500)),
        stacks,
        7,
        null,
        true);
  }

  @Test
  void aReportOverTheRecordBudgetKeepsItsLargestStacksAndCountsTheRest() {
    ProcessReport r = bigReport();
    int before = ReportJson.bytes(r).length;
    ProcessReport bounded = ReportBuilder.boundToBytes(r, ReportBuilder.MAX_RECORD_JSON_BYTES);
    int after = ReportJson.bytes(bounded).length;
    int kept = bounded.stacks().size();
    System.out.printf("report: %d bytes -> %d bytes, %d of 500 stacks kept%n", before, after, kept);
    assertThat(before).isGreaterThan(2 * 1024 * 1024);
    assertThat(after).isLessThanOrEqualTo(ReportBuilder.MAX_RECORD_JSON_BYTES);
    assertThat(kept).isBetween(1, 499);
    assertThat(bounded.stacksOmitted()).isEqualTo(7 + 500 - kept);
    assertThat(bounded.stacks().get(0).bytes()).isEqualTo(1_000_000L); // the largest stays
    assertThat(bounded.outstanding().bytes()).isEqualTo(123456789L); // totals untouched
    assertThat(bounded.allocators()).isEqualTo(r.allocators());
  }

  /**
   * A snapshot of 2,000 stacks (over MAX_STACKS, then over a small byte budget): the rendered
   * report keeps the largest stacks whole, and its allocators list still counts every stack's
   * bytes.
   */
  @Test
  void aBoundedSnapshotStillCountsEveryStackUnderItsAllocator() {
    List<StackRow> stacks = new ArrayList<>();
    long[] expected = new long[2];
    Function<String, String> allocatorOf =
        id -> Long.parseLong(id, 16) % 2 == 0 ? "liba.so" : "libb.so";
    int n = 2000;
    for (int i = 0; i < n; i++) {
      long bytes = 10_000L + i;
      stacks.add(stack(i + 1, bytes, null));
      expected[(i + 1) % 2] += bytes;
    }
    stacks.sort((x, y) -> Long.compare(y.bytes(), x.bytes()));
    // what snapshot() does beyond MAX_STACKS, by hand: here every stack is in the list, then the
    // budget cuts
    ReportSnapshot snapshot =
        new ReportSnapshot(
            new ProcessInfo("h", 1, "p", "", false, null, null, false),
            null,
            null,
            stacks,
            0,
            null,
            null,
            null);
    ReportSnapshot bounded = ReportBuilder.boundToBytes(snapshot, 16 * 1024, allocatorOf);
    int kept = bounded.stacks().size();
    assertThat(kept).isBetween(1, n - 1);
    ProcessReport rendered =
        ReportBuilder.render(
            bounded,
            id ->
                StackDefinition.newBuilder()
                    .setId(id)
                    .setAllocator(allocatorOf.apply(id))
                    .setCulprit("c")
                    .setFrames(List.of())
                    .build());
    long a = 0, b = 0, allocations = 0;
    for (AllocatorRow al : rendered.allocators()) {
      if (al.module().equals("liba.so")) a = al.bytes();
      if (al.module().equals("libb.so")) b = al.bytes();
      allocations += al.allocations();
    }
    assertThat(a).isEqualTo(expected[0]);
    assertThat(b).isEqualTo(expected[1]);
    assertThat(allocations).isEqualTo(2L * n);
    assertThat(rendered.stacksOmitted()).isEqualTo(n - kept);
    assertThat(ReportJson.write(rendered))
        .as("internal to the snapshot")
        .doesNotContain("omittedAllocators");
  }

  @Test
  void aSmallReportIsLeftAlone() {
    ProcessReport r =
        new ProcessReport(
            null, null, null, List.of(), List.of(stack(1, 1, List.of())), 0, null, true);
    assertThat(ReportBuilder.boundToBytes(r, 1024)).isSameAs(r);
  }

  @Test
  void aRecordTooLargeIsSkippedWithADeadLetterOfItsKeyAndSizeNotItsValue() {
    OversizeRecordHandler h = new OversizeRecordHandler();
    h.configure(java.util.Map.of());
    ProducerRecord<byte[], byte[]> big =
        new ProducerRecord<>("leakwatch.exit-reports", "host/1".getBytes(), new byte[2_500_000]);
    ProductionExceptionHandler.Response r =
        h.handleError(null, big, new RecordTooLargeException("too large"));
    assertThat(r.result()).isEqualTo(ProductionExceptionHandler.Result.RESUME);
    List<ProducerRecord<byte[], byte[]>> letters = r.deadLetterQueueRecords();
    assertThat(letters).hasSize(1);
    assertThat(letters.get(0).value()).isNull();
    assertThat(new String(letters.get(0).key())).isEqualTo("host/1");
    assertThat(new String(letters.get(0).headers().lastHeader("leakwatch.error").value()))
        .contains("2500000 bytes");
    assertThat(h.handleError(null, big, new TimeoutException("later")).result())
        .isEqualTo(ProductionExceptionHandler.Result.RETRY);
    assertThat(h.handleError(null, big, new IllegalStateException("bug")).result())
        .isEqualTo(ProductionExceptionHandler.Result.FAIL);
  }
}
