package io.leakwatch.collector;

import io.leakwatch.schemas.AvroSerde;
import io.leakwatch.schemas.CounterSample;
import io.leakwatch.schemas.ProcessMessage;
import io.leakwatch.schemas.StackDefinition;
import io.leakwatch.schemas.Topics;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The collector's Kafka producer: idempotent, acks=all, lz4, batched. Records are few and large (a
 * batch carries thousands of events), so the defaults favour throughput; anything in the
 * collector's Kafka settings (TLS, SASL, tuning) overrides them.
 */
final class EventPublisher implements AutoCloseable {
  // The collector's log lines keep the name operators and the docs know them by.
  private static final Logger log = LoggerFactory.getLogger(Collector.class);
  private final KafkaProducer<String, byte[]> producer;
  private final AvroSerde<ProcessMessage> messages = AvroSerde.of(ProcessMessage.class);
  private final AvroSerde<StackDefinition> stacks = AvroSerde.of(StackDefinition.class);
  private final AvroSerde<CounterSample> counters = AvroSerde.of(CounterSample.class);

  EventPublisher(Map<String, Object> kafka) {
    Map<String, Object> p = new HashMap<>();
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4");
    p.put(ProducerConfig.LINGER_MS_CONFIG, 20);
    p.put(ProducerConfig.BATCH_SIZE_CONFIG, 256 * 1024);
    p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 8 * 1024 * 1024);
    p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 5_000); // never hang the drain loop on metadata
    p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 30_000);
    p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
    p.put(ProducerConfig.CLIENT_ID_CONFIG, "leakwatch-collector");
    p.putAll(kafka);
    this.producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
  }

  Future<RecordMetadata> send(ProcessMessage m) {
    String key = Topics.processKey(m.getHost(), m.getPid());
    return producer.send(
        new ProducerRecord<>(Topics.EVENTS, key, messages.serialize(Topics.EVENTS, m)));
  }

  Future<RecordMetadata> send(StackDefinition s) {
    return producer.send(
        new ProducerRecord<>(Topics.STACKS, s.getId(), stacks.serialize(Topics.STACKS, s)));
  }

  Future<RecordMetadata> send(CounterSample c) {
    String key = Topics.processKey(c.getHost(), c.getPid());
    return producer.send(
        new ProducerRecord<>(Topics.COUNTERS, key, counters.serialize(Topics.COUNTERS, c)));
  }

  void flush() {
    producer.flush();
  }

  /**
   * Flushes and waits until Kafka acknowledged every one of {@code futures}: ring space may be
   * released only then. False at the first that failed (or timed out); true when there were none.
   */
  boolean awaitAll(List<Future<RecordMetadata>> futures) {
    if (futures.isEmpty()) return true;
    flush();
    for (Future<RecordMetadata> f : futures) {
      try {
        f.get(60, TimeUnit.SECONDS);
      } catch (ExecutionException | TimeoutException e) {
        log.warn(
            "publish failed: {}", e.getCause() != null ? e.getCause().toString() : e.toString());
        return false;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return false;
      }
    }
    return true;
  }

  @Override
  public void close() {
    producer.close(Duration.ofSeconds(10));
  }
}
