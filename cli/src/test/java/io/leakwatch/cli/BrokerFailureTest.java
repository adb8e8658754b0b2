package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.leakwatch.collector.Collector;
import io.leakwatch.collector.CollectorConfig;
import io.leakwatch.kafka.KafkaCluster;
import io.leakwatch.streams.StreamsApp;
import io.leakwatch.streams.StreamsAppConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.TopicDescription;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One of three brokers (each its own JVM; replication 3, min.insync.replicas 2) killed with SIGKILL
 * while a target leaks: the collector's acks=all writes and the streams-app's transactions carry on
 * with two, and the totals are exact.
 */
class BrokerFailureTest {
  @TempDir Path tmp;

  @Test
  void oneOfThreeBrokersKilledMidStreamLosesNothing() throws Exception {
    Path runDir = Files.createDirectories(tmp.resolve("rings"));
    try (KafkaCluster kafka = KafkaCluster.start(3)) {
      StreamsAppConfig sc =
          StreamsAppConfig.defaults(kafka.bootstrapServers(), tmp.resolve("streams"))
              .withHttpPort(-1)
              .withReplication((short) 3);
      try (StreamsApp streams = new StreamsApp(sc).start(Duration.ofMinutes(3));
          Collector collector =
              new Collector(
                      CollectorConfig.defaults(kafka.bootstrapServers())
                          .withRunDir(runDir)
                          .withHttpPort(0))
                  .start()) {
        try (Admin admin =
            Admin.create(java.util.Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
          TopicDescription events =
              admin
                  .describeTopics(java.util.List.of(io.leakwatch.schemas.Topics.EVENTS))
                  .allTopicNames()
                  .get(30, TimeUnit.SECONDS)
                  .get(io.leakwatch.schemas.Topics.EVENTS);
          assertThat(events.partitions().get(0).replicas()).hasSize(3);
        }
        Process service = Targets.demo(runDir, 20, 1000).start();
        Thread.sleep(6_000);
        kafka.kill(
            0); // node 1: the first bootstrap address, a partition leader and a controller voter
        System.out.println("broker failure: node 1 killed");

        long leaked = Targets.leakedKeys(service);
        String host = CollectorConfig.localHostName();
        JsonNode r =
            Targets.awaitExitReport(
                () -> streams.reports().report(host, (int) service.pid()).map(Targets::json),
                180_000);
        assertThat(r).as("exit report with a broker down").isNotNull();
        long keyBytes = Targets.bytesOfStacksCalling(r, "verify_signature");
        System.out.println(
            "broker failure: leaked " + leaked + " keys; tracking " + r.path("tracking"));
        assertThat(r.path("tracking").path("lostEvents").asLong()).isZero();
        assertThat(keyBytes).isEqualTo(leaked * 422);
        assertThat(Targets.outstandingOutsideCLibrary(r)).isEqualTo(leaked * 422);
      }
    }
  }
}
