package io.leakwatch.kafka;

/**
 * The one Kafka that integration tests talk to. Where a Docker engine answers it is Testcontainers'
 * {@code KafkaContainer} (the apache/kafka image); elsewhere (always, on the CI machines of this
 * project) it is the in-process KRaft broker. Either way it is a real broker over TCP. The fixture
 * says which one it started, so a test log shows what was exercised.
 */
public interface KafkaFixture extends AutoCloseable {
  String bootstrapServers();

  /** "testcontainers" or "embedded-kraft". */
  String kind();

  @Override
  void close();

  static KafkaFixture start() {
    if (ContainerKafkaFixture.dockerAvailable()) {
      KafkaFixture f = new ContainerKafkaFixture();
      System.out.println("[kafka-fixture] using " + f.kind() + " at " + f.bootstrapServers());
      return f;
    }
    System.out.println("[kafka-fixture] no Docker engine here: using the in-process KRaft broker");
    EmbeddedKafka broker = EmbeddedKafka.start();
    KafkaFixture f =
        new KafkaFixture() {
          @Override
          public String bootstrapServers() {
            return broker.bootstrapServers();
          }

          @Override
          public String kind() {
            return "embedded-kraft";
          }

          @Override
          public void close() {
            broker.close();
          }
        };
    System.out.println("[kafka-fixture] using " + f.kind() + " at " + f.bootstrapServers());
    return f;
  }
}
