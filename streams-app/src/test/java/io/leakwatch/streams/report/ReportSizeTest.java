package io.leakwatch.streams.report;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.leakwatch.streams.OversizeRecordHandler;
import java.util.List;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.streams.errors.ProductionExceptionHandler;
import org.junit.jupiter.api.Test;

/** Reports that travel as one Kafka record stay under the record limit; an oversize record never stops an instance. */
class ReportSizeTest {
  /** A report shaped like a JVM's exit report: 500 stacks of 48 frames (2.5 MB measured). */
  private static ObjectNode bigReport() {
    ObjectNode r = ReportBuilder.JSON.createObjectNode();
    r.putObject("outstanding").put("bytes", 123456789L);
    ArrayNode stacks = r.putArray("stacks");
    for (int i = 0; i < 500; i++) {
      ObjectNode s = stacks.addObject();
      s.put("id", String.format("%016x", i));
      s.put("bytes", 1_000_000L - i);
      ArrayNode frames = s.putArray("frames");
      for (int f = 0; f < 48; f++) {
        frames.addObject().put("module", "libjvm.so").put("function", "void java.util.zip.Inflater.inflateBytesBytes(long)")
            .put("offset", 0x1234 + f).put("display", "libjvm.so!SomeRatherLongFunctionName+0x" + Integer.toHexString(f));
      }
    }
    r.put("stacksOmitted", 7);
    return r;
  }

  @Test
  void aReportOverTheRecordBudgetKeepsItsLargestStacksAndCountsTheRest() throws Exception {
    ObjectNode r = bigReport();
    int before = ReportBuilder.JSON.writeValueAsBytes(r).length;
    ReportBuilder.boundToBytes(r, ReportBuilder.MAX_RECORD_JSON_BYTES, id -> "libjvm.so");
    int after = ReportBuilder.JSON.writeValueAsBytes(r).length;
    int kept = r.withArray("stacks").size();
    System.out.printf("report: %d bytes -> %d bytes, %d of 500 stacks kept%n", before, after, kept);
    assertThat(before).isGreaterThan(2 * 1024 * 1024);
    assertThat(after).isLessThanOrEqualTo(ReportBuilder.MAX_RECORD_JSON_BYTES);
    assertThat(kept).isBetween(1, 499);
    assertThat(r.path("stacksOmitted").asLong()).isEqualTo(7 + 500 - kept);
    assertThat(r.withArray("stacks").get(0).path("bytes").asLong()).isEqualTo(1_000_000L); // the largest stays
    assertThat(r.path("outstanding").path("bytes").asLong()).isEqualTo(123456789L); // totals untouched
  }

  /**
   * A snapshot of 2,000 stacks (over MAX_STACKS, then over a small byte budget): the rendered report
   * keeps the largest stacks whole, and its allocators list still counts every stack's bytes.
   */
  @Test
  void aBoundedSnapshotStillCountsEveryStackUnderItsAllocator() {
    ObjectNode snapshot = ReportBuilder.JSON.createObjectNode();
    snapshot.putObject("process").put("host", "h").put("pid", 1);
    snapshot.putObject("tracking");
    snapshot.putObject("outstanding");
    ArrayNode stacks = snapshot.putArray("stacks");
    long[] expected = new long[2];
    java.util.function.Function<String, String> allocatorOf = id -> Long.parseLong(id, 16) % 2 == 0 ? "liba.so" : "libb.so";
    int n = 2000;
    for (int i = 0; i < n; i++) {
      long bytes = 10_000L + i;
      stacks.addObject().put("id", String.format("%016x", i + 1)).put("bytes", bytes).put("allocations", 2).putArray("sizes");
      expected[(i + 1) % 2] += bytes;
    }
    // what snapshot() does beyond MAX_STACKS, by hand: here every stack is in the array, then the budget cuts
    snapshot.put("stacksOmitted", 0);
    ReportBuilder.boundToBytes(snapshot, 16 * 1024, allocatorOf);
    int kept = snapshot.withArray("stacks").size();
    assertThat(kept).isBetween(1, n - 1);
    ObjectNode rendered = ReportBuilder.render(snapshot, id -> io.leakwatch.schemas.StackDefinition.newBuilder().setId(id)
        .setAllocator(allocatorOf.apply(id)).setCulprit("c").setFrames(List.of()).build());
    long a = 0, b = 0, allocations = 0;
    for (var al : rendered.withArray("allocators")) {
      if (al.path("module").asText().equals("liba.so")) a = al.path("bytes").asLong();
      if (al.path("module").asText().equals("libb.so")) b = al.path("bytes").asLong();
      allocations += al.path("allocations").asLong();
    }
    assertThat(a).isEqualTo(expected[0]);
    assertThat(b).isEqualTo(expected[1]);
    assertThat(allocations).isEqualTo(2L * n);
    assertThat(rendered.path("stacksOmitted").asLong()).isEqualTo(n - kept);
    assertThat(rendered.has("omittedAllocators")).as("internal to the snapshot").isFalse();
  }

  @Test
  void aSmallReportIsLeftAlone() throws Exception {
    ObjectNode r = ReportBuilder.JSON.createObjectNode();
    r.putArray("stacks").addObject().put("bytes", 1);
    String json = r.toString();
    assertThat(ReportBuilder.boundToBytes(r, 1024, id -> "x").toString()).isEqualTo(json);
  }

  @Test
  void aRecordTooLargeIsSkippedWithADeadLetterOfItsKeyAndSizeNotItsValue() {
    OversizeRecordHandler h = new OversizeRecordHandler();
    h.configure(java.util.Map.of());
    ProducerRecord<byte[], byte[]> big = new ProducerRecord<>("leakwatch.exit-reports", "host/1".getBytes(), new byte[2_500_000]);
    ProductionExceptionHandler.Response r = h.handleError(null, big, new RecordTooLargeException("too large"));
    assertThat(r.result()).isEqualTo(ProductionExceptionHandler.Result.RESUME);
    List<ProducerRecord<byte[], byte[]>> letters = r.deadLetterQueueRecords();
    assertThat(letters).hasSize(1);
    assertThat(letters.get(0).value()).isNull();
    assertThat(new String(letters.get(0).key())).isEqualTo("host/1");
    assertThat(new String(letters.get(0).headers().lastHeader("leakwatch.error").value())).contains("2500000 bytes");
    assertThat(h.handleError(null, big, new TimeoutException("later")).result()).isEqualTo(ProductionExceptionHandler.Result.RETRY);
    assertThat(h.handleError(null, big, new IllegalStateException("bug")).result()).isEqualTo(ProductionExceptionHandler.Result.FAIL);
  }
}
