package io.leakwatch.schemas;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.Schema;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecordBase;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Kafka serde for a generated Avro class in single-object encoding (C3 01, 8-byte schema
 * fingerprint, body). No schema registry: the reader knows every schema it accepts, and a record
 * written with an unknown schema or cut short is a {@link SerializationException}, never a crash.
 *
 * <p>The schemas a type had before its current one live in {@code history/NAME.vN.avsc} beside this
 * class: records written by an older collector during a rolling upgrade are read through Avro's
 * schema resolution (a field added since gets its default).
 */
public final class AvroSerde<T extends SpecificRecordBase>
    implements Serde<T>, Serializer<T>, Deserializer<T> {
  static {
    AvroTrust.trustGeneratedClasses();
  }

  private final Class<T> type;
  private final BinaryMessageEncoder<T> encoder;
  private final BinaryMessageDecoder<T> decoder;

  public AvroSerde(Class<T> type) {
    this.type = type;
    SpecificData model = SpecificData.getForClass(type);
    Schema schema = model.getSchema(type);
    this.encoder = new BinaryMessageEncoder<>(model, schema);
    this.decoder = new BinaryMessageDecoder<>(model, schema);
    for (Schema older : history(type)) decoder.addSchema(older);
  }

  /** Earlier schemas of {@code type}, oldest first (history/NAME.v1.avsc, v2, ...). */
  static List<Schema> history(Class<?> type) {
    List<Schema> older = new ArrayList<>();
    for (int v = 1; ; v++) {
      String resource = "history/" + type.getSimpleName() + ".v" + v + ".avsc";
      try (InputStream in = AvroSerde.class.getResourceAsStream(resource)) {
        if (in == null) return older;
        older.add(new Schema.Parser().parse(in));
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read schema " + resource, e);
      }
    }
  }

  /** Trusts generated classes outside this module (for example state-store records). */
  public static void trust(Class<?>... classes) {
    AvroTrust.trust(classes);
  }

  public static <T extends SpecificRecordBase> AvroSerde<T> of(Class<T> type) {
    return new AvroSerde<>(type);
  }

  @Override
  public byte[] serialize(String topic, T data) {
    if (data == null) return null;
    try {
      ByteBuffer buf = encoder.encode(data);
      byte[] out = new byte[buf.remaining()];
      buf.get(out);
      return out;
    } catch (IOException | AvroRuntimeException e) {
      throw new SerializationException("cannot encode " + type.getSimpleName(), e);
    }
  }

  @Override
  public T deserialize(String topic, byte[] data) {
    if (data == null) return null;
    try {
      return decoder.decode(data);
    } catch (IOException | RuntimeException e) {
      throw new SerializationException(
          "malformed "
              + type.getSimpleName()
              + " record ("
              + data.length
              + " bytes) on "
              + topic
              + ": "
              + e.getMessage(),
          e);
    }
  }

  @Override
  public void configure(Map<String, ?> configs, boolean isKey) {}

  @Override
  public void close() {}

  @Override
  public Serializer<T> serializer() {
    return this;
  }

  @Override
  public Deserializer<T> deserializer() {
    return this;
  }
}
