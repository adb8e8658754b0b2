package io.leakwatch.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

class EmbeddedKafkaTest {
  @Test
  void producesAndConsumesOverLoopback() throws Exception {
    try (KafkaFixture kafka = KafkaFixture.start()) {
      Properties common = new Properties();
      common.put("bootstrap.servers", kafka.bootstrapServers());
      try (Admin admin = Admin.create(common)) {
        admin.createTopics(List.of(new NewTopic("t", 1, (short) 1))).all().get();
      }
      Properties p = new Properties();
      p.putAll(common);
      p.put("enable.idempotence", "true");
      p.put("acks", "all");
      try (var producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
        producer.send(new ProducerRecord<>("t", "k", "v")).get();
      }
      Properties c = new Properties();
      c.putAll(common);
      c.put("group.id", "g");
      c.put("auto.offset.reset", "earliest");
      try (var consumer =
          new KafkaConsumer<>(c, new StringDeserializer(), new StringDeserializer())) {
        consumer.subscribe(List.of("t"));
        ConsumerRecords<String, String> got = ConsumerRecords.empty();
        long deadline = System.currentTimeMillis() + 30_000;
        while (got.isEmpty() && System.currentTimeMillis() < deadline)
          got = consumer.poll(Duration.ofMillis(500));
        assertThat(got.count()).isEqualTo(1);
        assertThat(got.iterator().next().value()).isEqualTo("v");
      }
    }
  }
}
