package io.leakwatch.kafka;

import org.testcontainers.DockerClientFactory;
import org.testcontainers.kafka.KafkaContainer;

/**
 * Testcontainers' KafkaContainer; only loaded where Testcontainers is on the class path and Docker
 * answers.
 */
final class ContainerKafkaFixture implements KafkaFixture {
  static final String IMAGE = "apache/kafka:4.1.0";
  private final KafkaContainer container;

  ContainerKafkaFixture() {
    container = new KafkaContainer(IMAGE);
    container.start();
  }

  static boolean dockerAvailable() {
    if (System.getenv("LEAKWATCH_NO_TESTCONTAINERS") != null) return false;
    try {
      Class.forName("org.testcontainers.DockerClientFactory");
      return DockerClientFactory.instance().isDockerAvailable();
    } catch (
        Throwable
            e) { // not on the class path, or no engine: NoClassDefFoundError, IllegalStateException
      return false;
    }
  }

  @Override
  public String bootstrapServers() {
    return container.getBootstrapServers();
  }

  @Override
  public String kind() {
    return "testcontainers";
  }

  @Override
  public void close() {
    container.stop();
  }
}
