package io.leakwatch.streams.state;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.schemas.AvroSerde;
import java.io.InputStream;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageEncoder;
import org.junit.jupiter.api.Test;

/**
 * State records in changelogs outlive an upgrade: a ProcessState written before the exit-deferral
 * fields existed is read by the new version (the fields take their defaults).
 */
class StateSchemaHistoryTest {
  /** An earlier ProcessState schema from the history folder. */
  private static Schema history(int version) throws Exception {
    try (InputStream in =
        AvroSerde.class.getResourceAsStream("history/ProcessState.v" + version + ".avsc")) {
      return new Schema.Parser().parse(in);
    }
  }

  /**
   * A ProcessState written under {@code schema} (its defaults, then {@code fields}), read by this
   * version.
   */
  private static ProcessState writtenUnder(Schema schema, Map<String, Object> fields)
      throws Exception {
    GenericRecord old = new GenericData.Record(schema);
    for (Schema.Field f : schema.getFields())
      if (f.hasDefaultValue()) old.put(f.name(), GenericData.get().getDefaultValue(f));
    fields.forEach(old::put);
    byte[] bytes =
        new BinaryMessageEncoder<GenericRecord>(GenericData.get(), schema).encode(old).array();
    AvroSerde.trust(ProcessState.class); // as the topology does for its state records
    return AvroSerde.of(ProcessState.class).deserialize("changelog", bytes);
  }

  @Test
  void aProcessStateWrittenBeforeExitsCouldWaitIsStillRead() throws Exception {
    Schema v1 = history(1);
    assertThat(v1.getField("exitDeferredAtMs")).isNull();

    ProcessState read =
        writtenUnder(v1, Map.of("host", "h1", "pid", 42, "name", "svc", "lastSeq", 4096L));

    assertThat(read.getHost()).isEqualTo("h1");
    assertThat(read.getLastSeq()).isEqualTo(4096L);
    assertThat(read.getExitDeferredAtMs()).isZero();
  }

  @Test
  void aProcessStateWrittenBeforeTotalsWereKeptSaysSo() throws Exception {
    Schema v3 = history(3);
    assertThat(v3.getField("totalsKept")).isNull();

    ProcessState read = writtenUnder(v3, Map.of("host", "h1", "pid", 42));

    // Its listing total is summed from its rows, not read as zero.
    assertThat(read.getTotalsKept()).isFalse();
    assertThat(read.getOutstandingBytes()).isZero();
    assertThat(read.getRowsLeft()).isFalse();
  }
}
