package io.leakwatch.streams;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.Map;
import org.apache.kafka.streams.StreamsConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The user's Kafka settings come last and win; replication defaults to the cluster's own default.
 */
class StreamsSettingsTest {
  @TempDir Path state;

  @Test
  void replicationIsTheClustersDefaultUnlessTheUserSaysOtherwise() {
    StreamsAppConfig defaults = StreamsAppConfig.defaults("127.0.0.1:1", state).withHttpPort(-1);
    assertThat(defaults.effectiveReplication())
        .as("-1: default.replication.factor of the cluster")
        .isEqualTo((short) -1);
    try (StreamsApp app = new StreamsApp(defaults)) {
      assertThat(app.properties.get(StreamsConfig.REPLICATION_FACTOR_CONFIG)).isEqualTo(-1);
    }
  }

  @Test
  void theUsersSettingsWin() {
    StreamsAppConfig config =
        StreamsAppConfig.defaults("127.0.0.1:1", state)
            .withHttpPort(-1)
            .withKafka(
                Map.of(
                    "replication.factor",
                    "3",
                    "processing.guarantee",
                    "at_least_once",
                    "num.stream.threads",
                    "4"));
    assertThat(config.effectiveReplication()).isEqualTo((short) 3);
    try (StreamsApp app = new StreamsApp(config)) {
      assertThat(app.properties.get(StreamsConfig.REPLICATION_FACTOR_CONFIG)).isEqualTo("3");
      assertThat(app.properties.get(StreamsConfig.PROCESSING_GUARANTEE_CONFIG))
          .isEqualTo("at_least_once");
      assertThat(app.properties.get(StreamsConfig.NUM_STREAM_THREADS_CONFIG)).isEqualTo("4");
      assertThat(app.properties.get(StreamsConfig.APPLICATION_ID_CONFIG))
          .as("ours where the user is silent")
          .isEqualTo("leakwatch-streams");
    }
  }
}
