package io.leakwatch.streams;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.ErrorHandlerContext;
import org.apache.kafka.streams.errors.ProductionExceptionHandler;

/**
 * A record the producer refuses as too large is skipped (Kafka Streams counts it as dropped) with a
 * dead letter that says so, instead of stopping the instance. The dead letter carries the key and
 * the size, not the value: the value is what was too large, and a dead-letter send of it failed too
 * and shut the instance down. Everything else behaves as Kafka's default handler: retriable errors
 * are retried, others fail.
 */
public final class OversizeRecordHandler implements ProductionExceptionHandler {
  private String deadLetters = StreamsApp.DEAD_LETTERS;

  @Override
  public void configure(Map<String, ?> configs) {
    Object topic = configs.get(StreamsConfig.ERRORS_DEAD_LETTER_QUEUE_TOPIC_NAME_CONFIG);
    if (topic instanceof String t && !t.isBlank()) deadLetters = t;
  }

  @Override
  public Response handleError(
      ErrorHandlerContext context, ProducerRecord<byte[], byte[]> record, Exception exception) {
    if (exception instanceof RecordTooLargeException) {
      int size = record.value() == null ? 0 : record.value().length;
      ProducerRecord<byte[], byte[]> letter =
          new ProducerRecord<>(deadLetters, null, record.key(), null);
      letter
          .headers()
          .add(
              "leakwatch.error",
              ("record too large for " + record.topic() + ": " + size + " bytes")
                  .getBytes(StandardCharsets.UTF_8));
      return Response.resume(List.of(letter));
    }
    return exception instanceof RetriableException ? Response.retry() : Response.fail();
  }
}
