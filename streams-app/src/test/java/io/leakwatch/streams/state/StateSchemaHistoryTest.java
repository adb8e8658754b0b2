package io.leakwatch.streams.state;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.schemas.AvroSerde;
import java.io.InputStream;
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
  @Test
  void aProcessStateWrittenBeforeExitsCouldWaitIsStillRead() throws Exception {
    Schema v1;
    try (InputStream in = AvroSerde.class.getResourceAsStream("history/ProcessState.v1.avsc")) {
      v1 = new Schema.Parser().parse(in);
    }
    assertThat(v1.getField("exitDeferredAtMs")).isNull();
    GenericRecord old = new GenericData.Record(v1);
    for (Schema.Field f : v1.getFields())
      if (f.hasDefaultValue()) old.put(f.name(), GenericData.get().getDefaultValue(f));
    old.put("host", "h1");
    old.put("pid", 42);
    old.put("name", "svc");
    old.put("lastSeq", 4096L);
    byte[] bytes =
        new BinaryMessageEncoder<GenericRecord>(GenericData.get(), v1).encode(old).array();

    AvroSerde.trust(ProcessState.class); // as the topology does for its state records
    ProcessState read = AvroSerde.of(ProcessState.class).deserialize("changelog", bytes);

    assertThat(read.getHost()).isEqualTo("h1");
    assertThat(read.getLastSeq()).isEqualTo(4096L);
    assertThat(read.getExitDeferredAtMs()).isZero();
  }

  @Test
  void aProcessStateWrittenBeforeTotalsWereKeptSaysSo() throws Exception {
    Schema v3;
    try (InputStream in = AvroSerde.class.getResourceAsStream("history/ProcessState.v3.avsc")) {
      v3 = new Schema.Parser().parse(in);
    }
    assertThat(v3.getField("totalsKept")).isNull();
    GenericRecord old = new GenericData.Record(v3);
    for (Schema.Field f : v3.getFields())
      if (f.hasDefaultValue()) old.put(f.name(), GenericData.get().getDefaultValue(f));
    old.put("host", "h1");
    old.put("pid", 42);
    byte[] bytes =
        new BinaryMessageEncoder<GenericRecord>(GenericData.get(), v3).encode(old).array();

    AvroSerde.trust(ProcessState.class);
    ProcessState read = AvroSerde.of(ProcessState.class).deserialize("changelog", bytes);

    // Its listing total is summed from its rows, not read as zero.
    assertThat(read.getTotalsKept()).isFalse();
    assertThat(read.getOutstandingBytes()).isZero();
  }
}
