package io.leakwatch.schemas;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Random;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.kafka.common.errors.SerializationException;
import org.junit.jupiter.api.Test;

class AvroSerdeTest {
  private final AvroSerde<ProcessMessage> serde = AvroSerde.of(ProcessMessage.class);

  private ProcessMessage sample() {
    AllocationEvent alloc =
        AllocationEvent.newBuilder()
            .setSeq(64)
            .setType(EventType.ALLOC)
            .setKind(AllocationKind.HEAP)
            .setAddress(0x7f0000001000L)
            .setSize(422)
            .setWeight(422.0)
            .setTimestampNs(1L)
            .setStackId(0x1234L)
            .setThreadId(7)
            .build();
    EventBatch batch =
        EventBatch.newBuilder()
            .setFirstSeq(64)
            .setEndSeq(128)
            .setLostEvents(0)
            .setEvents(List.of(alloc))
            .build();
    return ProcessMessage.newBuilder().setHost("h1").setPid(42).setBody(batch).build();
  }

  @Test
  void roundTripsInSingleObjectEncoding() {
    byte[] bytes = serde.serialize("t", sample());
    assertThat(bytes[0]).isEqualTo((byte) 0xC3);
    assertThat(bytes[1]).isEqualTo((byte) 0x01);
    assertThat(serde.deserialize("t", bytes)).isEqualTo(sample());
  }

  @Test
  void truncatedOrForeignRecordsAreSerializationErrors() {
    byte[] bytes = serde.serialize("t", sample());
    for (int len = 0; len < bytes.length; len++) {
      byte[] cut = java.util.Arrays.copyOf(bytes, len);
      assertThatThrownBy(() -> serde.deserialize("t", cut))
          .isInstanceOf(SerializationException.class);
    }
    byte[] stack =
        AvroSerde.of(StackDefinition.class)
            .serialize(
                "t",
                StackDefinition.newBuilder()
                    .setId("00")
                    .setAllocator("a")
                    .setCulprit("c")
                    .setFrames(List.of())
                    .build());
    assertThatThrownBy(() -> serde.deserialize("t", stack))
        .isInstanceOf(SerializationException.class);
  }

  @Test
  void randomBytesNeverEscapeAsAnythingButSerializationErrors() {
    Random random = new Random(7);
    byte[] valid = serde.serialize("t", sample());
    for (int i = 0; i < 20_000; i++) {
      byte[] junk = valid.clone();
      int flips = 1 + random.nextInt(4);
      for (int f = 0; f < flips; f++)
        junk[random.nextInt(junk.length)] = (byte) random.nextInt(256);
      try {
        serde.deserialize("t", junk);
      } catch (SerializationException expected) {
        // counted as malformed by callers
      }
    }
  }

  @Test
  void readsStackDefinitionsWrittenBeforeFramesHadTheInlinedField() throws Exception {
    // A collector of the previous release, mid rolling upgrade, writes with the v1 schema.
    Schema v1 = AvroSerde.history(StackDefinition.class).get(0);
    assertThat(v1.getField("frames").schema().getElementType().getField("inlined")).isNull();
    GenericRecord frame = new GenericData.Record(v1.getField("frames").schema().getElementType());
    frame.put("module", "libtoykey.so");
    frame.put("buildId", null);
    frame.put("function", "toykey_derive");
    frame.put("offset", 0x2cL);
    frame.put("moduleOffset", 0x112cL);
    frame.put("file", null);
    frame.put("line", null);
    GenericRecord def = new GenericData.Record(v1);
    def.put("id", "00000000000000aa");
    def.put("allocator", "libc.so.6");
    def.put("culprit", "libtoykey.so!toykey_derive+0x2c");
    def.put("frames", List.of(frame));
    byte[] old = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), v1).encode(def).array();

    StackDefinition read = AvroSerde.of(StackDefinition.class).deserialize("stacks", old);

    assertThat(read.getId()).isEqualTo("00000000000000aa");
    assertThat(read.getFrames().get(0).getFunction()).isEqualTo("toykey_derive");
    assertThat(read.getFrames().get(0).getInlined()).isFalse();
  }

  @Test
  void readsProcessMessagesWrittenBeforeAttachAndDetach() throws Exception {
    Schema v1 = AvroSerde.history(ProcessMessage.class).get(0);
    Schema body = v1.getField("body").schema();
    Schema exitedV1 =
        body.getTypes().stream()
            .filter(t -> t.getName().equals("ProcessExited"))
            .findFirst()
            .orElseThrow();
    assertThat(exitedV1.getField("detached")).isNull();
    GenericRecord exited = new GenericData.Record(exitedV1);
    exited.put("exitedAtMs", 1_700_000_000_000L);
    exited.put("clean", true);
    exited.put("lostEvents", 3L);
    byte[] old = olderMessage(v1, exited);

    ProcessMessage read = AvroSerde.of(ProcessMessage.class).deserialize("events", old);

    assertThat(read.getBody()).isInstanceOf(ProcessExited.class);
    assertThat(((ProcessExited) read.getBody()).getLostEvents()).isEqualTo(3L);
    assertThat(((ProcessExited) read.getBody()).getDetached()).isFalse();
  }

  @Test
  void readsEventBatchesWrittenBeforeRecordsOfARoundWereChained() throws Exception {
    Schema v2 = AvroSerde.history(ProcessMessage.class).get(1);
    Schema batchV2 =
        v2.getField("body").schema().getTypes().stream()
            .filter(t -> t.getName().equals("EventBatch"))
            .findFirst()
            .orElseThrow();
    assertThat(batchV2.getField("continuesAfterSeq")).isNull();
    GenericRecord batch = new GenericData.Record(batchV2);
    batch.put("firstSeq", 0L);
    batch.put("endSeq", 64L);
    batch.put("lostEvents", 0L);
    batch.put("events", List.of());
    batch.put("resync", null);
    byte[] old = olderMessage(v2, batch);

    ProcessMessage read = AvroSerde.of(ProcessMessage.class).deserialize("events", old);

    assertThat(((EventBatch) read.getBody()).getEndSeq()).isEqualTo(64L);
    assertThat(((EventBatch) read.getBody()).getContinuesAfterSeq())
        .as("a record of an older collector depends on none before it")
        .isEqualTo(-1L);
  }

  /**
   * A ProcessMessage of host h1, pid 42, written with an older {@code schema} around {@code body}.
   */
  private static byte[] olderMessage(Schema schema, GenericRecord body) throws Exception {
    GenericRecord m = new GenericData.Record(schema);
    for (Schema.Field f : schema.getFields()) {
      switch (f.name()) {
        case "host" -> m.put("host", "h1");
        case "pid" -> m.put("pid", 42);
        case "processStartTicks" -> m.put("processStartTicks", 7L);
        case "body" -> m.put("body", body);
        default -> m.put(f.name(), f.defaultVal());
      }
    }
    return new BinaryMessageEncoder<GenericRecord>(GenericData.get(), schema).encode(m).array();
  }
}
