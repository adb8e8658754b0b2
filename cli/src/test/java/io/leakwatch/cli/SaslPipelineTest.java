package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import io.leakwatch.collector.Collector;
import io.leakwatch.collector.CollectorConfig;
import io.leakwatch.collector.CollectorMain;
import io.leakwatch.kafka.EmbeddedKafka;
import io.leakwatch.streams.StreamsApp;
import io.leakwatch.streams.StreamsAppConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The pipeline against a broker listener that requires SASL: the collector's settings come from its
 * YAML config file, the streams-app's from a Kafka properties file, both passed through to the
 * Kafka clients as they are. Wrong credentials are refused by the broker.
 */
class SaslPipelineTest {
  @TempDir Path tmp;

  private static String jaas(String user, String password) {
    return "org.apache.kafka.common.security.plain.PlainLoginModule required username=\""
        + user
        + "\" password=\""
        + password
        + "\";";
  }

  @Test
  void thePipelineRunsOverSaslAndWrongCredentialsAreRefused() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.startWithSaslPlain(Map.of("leakwatch", "s3cret"))) {
      String bootstrap = kafka.saslBootstrapServers();
      // The broker refuses a wrong password on that listener.
      try (Admin bad =
          Admin.create(
              Map.of(
                  "bootstrap.servers",
                  bootstrap,
                  "security.protocol",
                  "SASL_PLAINTEXT",
                  "sasl.mechanism",
                  "PLAIN",
                  "sasl.jaas.config",
                  jaas("leakwatch", "wrong"),
                  "request.timeout.ms",
                  10_000,
                  "default.api.timeout.ms",
                  10_000))) {
        assertThatThrownBy(() -> bad.listTopics().names().get(15, TimeUnit.SECONDS))
            .hasRootCauseInstanceOf(
                org.apache.kafka.common.errors.SaslAuthenticationException.class);
      }

      Path props =
          Files.writeString(
              tmp.resolve("kafka.properties"),
              "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
                  + "sasl.jaas.config="
                  + jaas("leakwatch", "s3cret").replace("\"", "\\\"")
                  + "\n");
      StreamsAppConfig sc =
          StreamsAppConfig.defaults(bootstrap, tmp.resolve("streams"))
              .withHttpPort(-1)
              .withKafka(StreamsAppConfig.kafkaSettings(props));
      Path yml =
          Files.writeString(
              tmp.resolve("collector.yml"),
              String.join(
                  "\n",
                  "kafka:",
                  "  bootstrap.servers: " + bootstrap,
                  "  security.protocol: SASL_PLAINTEXT",
                  "  sasl.mechanism: PLAIN",
                  "  sasl.jaas.config: '" + jaas("leakwatch", "s3cret") + "'",
                  "http:",
                  "  port: 0",
                  ""));
      Path runDir = Files.createDirectories(tmp.resolve("rings"));
      CollectorConfig cc = CollectorMain.configure(yml, null, null, null, runDir);
      assertThat(cc.kafka()).containsEntry("security.protocol", "SASL_PLAINTEXT");
      try (StreamsApp streams = new StreamsApp(sc).start(Duration.ofMinutes(2));
          Collector collector = new Collector(cc).start()) {
        Process p =
            Targets.tracked(
                    runDir,
                    Home.nativeDir().resolve("churn").toString(),
                    "-t",
                    "2",
                    "-p",
                    "20000",
                    "-n",
                    "40",
                    "-s",
                    "512",
                    "-k",
                    "0")
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        JsonNode report =
            Targets.awaitExitReport(
                () -> streams.reports().report(cc.host(), (int) p.pid()).map(Targets::json),
                90_000);
        assertThat(report).as("exit report over SASL").isNotNull();
        long leak = Targets.bytesOfStacksCalling(report, "leak_blocks");
        System.out.println("sasl: " + report.path("tracking"));
        assertThat(leak).isEqualTo(40 * 512);
        assertThat(report.path("tracking").path("lostEvents").asLong()).isZero();
      }
    }
  }
}
