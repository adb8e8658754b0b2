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
    ReportBuilder.boundToBytes(r, ReportBuilder.MAX_RECORD_JSON_BYTES);
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

  @Test
  void aSmallReportIsLeftAlone() throws Exception {
    ObjectNode r = ReportBuilder.JSON.createObjectNode();
    r.putArray("stacks").addObject().put("bytes", 1);
    String json = r.toString();
    assertThat(ReportBuilder.boundToBytes(r, 1024).toString()).isEqualTo(json);
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
